import assert from 'node:assert/strict'
import { base64Vector } from '../../src/http/embedding-schemas.js'

/** OpenAI's base64 embedding as the `openai` client decodes it: little-endian float32 values. */
const decode = (b64: string): number[] => {
  const bytes = Buffer.from(b64, 'base64')
  return Array.from({ length: bytes.byteLength / 4 }, (_, i) => bytes.readFloatLE(i * 4))
}

describe('base64Vector (OpenAI encoding_format: base64)', () => {
  it('should encode a vector\'s float32 values, little-endian', () => {
    const v = Float32Array.from([0.5, -1.25, 3, 1e-7, 0])
    assert.deepEqual(decode(base64Vector(v)), Array.from(v))
    assert.equal(base64Vector(Float32Array.from([1])), Buffer.from([0, 0, 0x80, 0x3f]).toString('base64'))
  })

  it('should encode only the row when the vector is a view into a larger buffer', () => {
    const all = Float32Array.from([9, 1.5, 2.5, 9])
    assert.deepEqual(decode(base64Vector(all.subarray(1, 3))), [1.5, 2.5])
  })
})
