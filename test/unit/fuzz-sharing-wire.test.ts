import assert from 'node:assert/strict'
import fc from 'fast-check'
import { decodeRequest, decodeResponse, encodeFrame } from '../../src/sharing/wire.js'
import { RUNS, check, decodeChecked, fuzzSuite, json, shallowJson, throughJson } from '../helpers/fuzz.js'

// Property tests for the `/harombe/models/1.0.0` decoders: whatever bytes a peer sends, they return
// a Decoded (never throw), and what they accept names a file by a 64-hex sha256 and nothing else.

const REASONS = /^(malformed|oversize): /
const sha = fc.stringMatching(/^[0-9a-f]{64}$/)
const validRequest = fc.oneof(
  fc.constant({ type: 'catalogue' }),
  fc.record({ type: fc.constant('hashes'), sha256: sha }),
  fc.record({ type: fc.constant('chunk'), sha256: sha, index: fc.nat({ max: 10_000_000 }) })
)
/** Near misses: paths and traversal where the hash goes, extra fields, wrong types. */
const hostileRequest = fc.record({
  type: fc.constantFrom('chunk', 'hashes', 'catalogue', 'file', ''),
  sha256: fc.oneof(sha, fc.constantFrom('../../etc/passwd', '/etc/passwd', 'C:\\\\x', 'AB'.repeat(32), ''), fc.string()),
  index: fc.oneof(fc.nat(), fc.integer({ min: -5, max: -1 }), fc.double(), fc.string()),
  path: fc.oneof(fc.constant(undefined), fc.string())
}, { requiredKeys: ['type'] })

describe('fuzz: models protocol decoders', function () {
  fuzzSuite(this)

  it('should accept every well-formed request unchanged', () => {
    fc.assert(fc.property(validRequest, request => {
      const decoded = decodeRequest(encodeFrame(request as any))
      check(decoded.ok, () => `rejected ${JSON.stringify(request)}: ${decoded.ok ? '' : decoded.reason}`)
      assert.deepEqual(decoded.value, throughJson(request))
    }), { numRuns: RUNS })
  })

  it('should never accept a request that names anything but a 64-hex sha256', () => {
    fc.assert(fc.property(hostileRequest, request => {
      const bytes = json(request)
      const decoded = decodeChecked('decodeRequest', () => decodeRequest(bytes), bytes, REASONS)
      if (!decoded.ok) return
      check(!('path' in decoded.value), () => `kept a path: ${JSON.stringify(decoded.value)}`)
      if (decoded.value.type !== 'catalogue') check(/^[0-9a-f]{64}$/.test(decoded.value.sha256), () => `accepted ${JSON.stringify(request)}`)
    }), { numRuns: RUNS })
  })

  it('should return a Decoded for any bytes or JSON, request or response', () => {
    fc.assert(fc.property(fc.oneof(fc.uint8Array({ maxLength: 256 }), shallowJson().map(json)), bytes => {
      decodeChecked('decodeRequest', () => decodeRequest(bytes), bytes, REASONS)
      decodeChecked('decodeResponse', () => decodeResponse(bytes), bytes, REASONS)
    }), { numRuns: RUNS })
  })

  it('should reject an oversize frame from its length alone', () => {
    const decoded = decodeResponse(new Uint8Array(3 * 1024 * 1024))
    assert.ok(!decoded.ok && decoded.reason.startsWith('oversize'))
  })
})
