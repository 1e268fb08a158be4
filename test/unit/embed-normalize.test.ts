import assert from 'node:assert/strict'
import { normalizeL2 } from '../../src/embeddings/normalize.js'

const length = (v: Float32Array): number => Math.sqrt(v.reduce((s, x) => s + x * x, 0))

describe('normalizeL2 (Ollama /api/embed vectors)', () => {
  const rows: Array<{ what: string, input: number[], expect: number[] | RegExp, same?: boolean }> = [
    { what: 'a 3-4 vector', input: [3, 4], expect: [0.6, 0.8].map(Math.fround) },
    { what: 'a negative vector', input: [0, -2, 0], expect: [0, -1, 0] },
    { what: 'an already unit vector, passed on as it is', input: [0.6, 0.8], expect: [0.6, 0.8].map(Math.fround), same: true },
    { what: 'an all-zero vector, left zero', input: [0, 0, 0], expect: [0, 0, 0] },
    { what: 'a NaN', input: [1, Number.NaN], expect: /NaN or Inf/ },
    { what: 'an infinity', input: [Number.POSITIVE_INFINITY, 1], expect: /NaN or Inf/ }
  ]
  for (const row of rows) {
    it(`should handle ${row.what}`, () => {
      const input = Float32Array.from(row.input)
      const out = normalizeL2(input)
      if (row.expect instanceof RegExp) {
        assert.ok(!out.ok)
        assert.match(out.reason, row.expect)
        return
      }
      assert.ok(out.ok)
      assert.deepEqual(Array.from(out.vector), row.expect)
      assert.equal(out.vector === input, row.same === true)
    })
  }

  it('should give length 1 to random vectors of many sizes', () => {
    for (const dims of [1, 7, 384, 768, 4096]) {
      const v = Float32Array.from({ length: dims }, (_, i) => Math.sin(i * 12.9898 + dims) * 43.7)
      const out = normalizeL2(v)
      assert.ok(out.ok)
      assert.ok(Math.abs(length(out.vector) - 1) < 1e-5, `${dims} dims: length ${length(out.vector)}`)
    }
  })
})
