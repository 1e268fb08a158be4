import assert from 'node:assert/strict'
import fc from 'fast-check'
import { decodeEmbedHeader, decodeEmbedRequest, decodeEmbedVectors, encodeEmbedAnswer, encodeEmbedHeader, encodeEmbedRequest, encodeEmbedResult, type EmbedDoneHeader } from '../../src/embeddings/frames.js'
import { readFrames } from '../../src/mesh/framing.js'
import { MAX_EMBEDDING_INPUTS } from '../../src/embeddings/constants.js'
import { createRefusals } from '../../src/embeddings/refusals.js'
import { RUNS, fuzzSuite, json } from '../helpers/fuzz.js'

describe('embedding frames (/harombe/embed/1.0.0)', () => {
  it('should round-trip vectors as float32 bytes, 4 bytes per value', () => {
    const embeddings = [Float32Array.from([0.5, -1.25, 3]), Float32Array.from([1e-7, 0, -0])]
    const { header, vectors } = encodeEmbedResult({ model: 'm', embeddings, prompt_tokens: 7 }, { name: 'b', peer_id: 'p', tier: 1 })
    assert.equal(vectors.byteLength, 2 * 3 * 4)
    const h = decodeEmbedHeader(header)
    assert.ok(h.ok && h.value.type === 'done')
    assert.deepEqual({ ...h.value }, { type: 'done', model: 'm', count: 2, dims: 3, prompt_tokens: 7, served_by: { name: 'b', peer_id: 'p', tier: 1 } })
    const v = decodeEmbedVectors(h.value, vectors)
    assert.ok(v.ok)
    assert.deepEqual(v.value.map(x => Array.from(x)), embeddings.map(x => Array.from(x)))
  })

  it('should send the answer as two frames, vectors read back from any offset and from row views', async () => {
    // Rows that are views into one buffer at an offset (as a decoded answer hands them on).
    const backing = new Float32Array(1 + 2 * 3)
    backing.set([9, 0.5, -1.25, 3, 1e-7, 0, -2])
    const embeddings = [backing.subarray(1, 4), backing.subarray(4, 7)]
    const wire = encodeEmbedAnswer({ model: 'm', embeddings, prompt_tokens: 3 })
    // Delivered in odd-sized chunks, so the vectors frame starts at an offset no Float32Array could view.
    const chunks = [wire.subarray(0, 5), wire.subarray(5, 31), wire.subarray(31)]
    const frames = readFrames((async function * () { yield * chunks })(), 1 << 20)
    const first = await frames.next()
    const second = await frames.next()
    assert.ok(first.done !== true && second.done !== true)
    const h = decodeEmbedHeader(first.value)
    assert.ok(h.ok && h.value.type === 'done')
    const v = decodeEmbedVectors(h.value, second.value)
    assert.ok(v.ok)
    assert.deepEqual(v.value.map(x => Array.from(x)), [[0.5, -1.25, 3], [Math.fround(1e-7), 0, -2]])
    // The same bytes as the two-part encoding.
    const parts = encodeEmbedResult({ model: 'm', embeddings, prompt_tokens: 3 })
    assert.deepEqual(Array.from(second.value), Array.from(parts.vectors))
    const odd = new Uint8Array(parts.vectors.byteLength + 1)
    odd.set(parts.vectors, 1)
    const unaligned = decodeEmbedVectors(h.value, odd.subarray(1))
    assert.ok(unaligned.ok)
    assert.deepEqual(unaligned.value.map(x => Array.from(x)), [[0.5, -1.25, 3], [Math.fround(1e-7), 0, -2]])
  })

  it('should refuse ragged vectors when encoding (a backend bug, not a frame)', () => {
    assert.throws(() => encodeEmbedResult({ model: 'm', embeddings: [new Float32Array(2), new Float32Array(3)], prompt_tokens: 0 }), /vector 1 has 3 dimensions/)
  })

  it('should reject a vectors frame whose length disagrees with its header', () => {
    const header: EmbedDoneHeader = { type: 'done', model: 'm', count: 2, dims: 3, prompt_tokens: 0 }
    const decoded = decodeEmbedVectors(header, new Uint8Array(20))
    assert.ok(!decoded.ok)
    assert.match(decoded.reason, /20 vector bytes, the header announces 24/)
  })

  const table: Array<{ what: string, frame: unknown, reason: RegExp }> = [
    { what: 'no request', frame: { id: 'x' }, reason: /request/ },
    { what: 'empty input', frame: { id: 'x', request: { model: 'm', input: [] } }, reason: /input/ },
    { what: 'too many inputs', frame: { id: 'x', request: { model: 'm', input: Array.from({ length: MAX_EMBEDDING_INPUTS + 1 }, () => 'a') } }, reason: /input/ },
    { what: 'mixed input', frame: { id: 'x', request: { model: 'm', input: ['a', [1]] } }, reason: /input/ },
    { what: 'a negative token', frame: { id: 'x', request: { model: 'm', input: [[-1]] } }, reason: /input/ },
    { what: 'no model', frame: { id: 'x', request: { input: ['a'] } }, reason: /model/ }
  ]
  for (const row of table) {
    it(`should reject a request frame with ${row.what}`, () => {
      const decoded = decodeEmbedRequest(json(row.frame))
      assert.ok(!decoded.ok)
      assert.match(decoded.reason, row.reason)
    })
  }

  it('should accept what it encodes, dropping routing hints the serving peer does not read', () => {
    const decoded = decodeEmbedRequest(encodeEmbedRequest({ id: 'r1', request: { model: 'm', input: [[1, 2]], truncate: false, tier: 2 } }))
    assert.ok(decoded.ok)
    assert.deepEqual(decoded.value.request, { model: 'm', input: [[1, 2]], truncate: false })
  })

  it('should truncate long error messages in an error header', () => {
    const bytes = encodeEmbedHeader({ type: 'error', code: 'bad_request', message: 'x'.repeat(5_000), retryable: false })
    const decoded = decodeEmbedHeader(bytes)
    assert.ok(decoded.ok && decoded.value.type === 'error')
    assert.ok(decoded.value.message.length <= 1_000)
  })

  describe('decoders never throw on any bytes', function () {
    fuzzSuite(this)
    it('should return a Decoded for random bytes and random JSON', () => {
      fc.assert(fc.property(fc.oneof(fc.uint8Array({ maxLength: 64 }), fc.jsonValue({ maxDepth: 3 }).map(v => json(v))), bytes => {
        for (const decode of [decodeEmbedRequest, decodeEmbedHeader]) {
          const out = decode(bytes)
          assert.equal(typeof out.ok, 'boolean')
          if (!out.ok) assert.match(out.reason, /^(malformed|oversize)/)
        }
      }), { numRuns: RUNS })
    })
  })
})

describe('embedding refusals', () => {
  it('should remember a refusal until the peer\'s models change', () => {
    const r = createRefusals()
    assert.equal(r.refused('p', 'm', ['m']), false)
    r.record('p', 'm', ['m'])
    assert.equal(r.refused('p', 'm', ['m']), true)
    assert.equal(r.refused('q', 'm', ['m']), false, 'another peer')
    assert.equal(r.refused('p', 'other', ['m']), false, 'another model')
    assert.equal(r.refused('p', 'm', ['m', 'n']), false, 'models changed: a new chance')
    assert.equal(r.refused('p', 'm', ['m']), false, 'and forgotten')
  })

  it('should remember at most its limit of pairs, the oldest refusal forgotten first', () => {
    const r = createRefusals(3)
    for (const p of ['a', 'b', 'c']) r.record(p, 'm', ['m'])
    r.record('a', 'm', ['m'])
    r.record('d', 'm', ['m'])
    assert.equal(r.size, 3, 'never past the bound')
    assert.equal(r.refused('b', 'm', ['m']), false, 'b, recorded longest ago, was forgotten')
    assert.deepEqual(['a', 'c', 'd'].map(p => r.refused(p, 'm', ['m'])), [true, true, true])
    for (let i = 0; i < 20; i++) r.record(`x${i}`, 'm', ['m'])
    assert.equal(r.size, 3)
  })
})
