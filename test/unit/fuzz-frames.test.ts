import assert from 'node:assert/strict'
import fc from 'fast-check'
import { MAX_REQUEST_FRAME_BYTES, MAX_RESPONSE_FRAME_BYTES } from '../../src/protocol/constants.js'
import {
  MAX_ERROR_MESSAGE_CHARS,
  decodeRequestFrame,
  decodeResponseFrame,
  encodeRequestFrame,
  encodeResponseFrame,
  validateRequest
} from '../../src/protocol/frames.js'
import { RUNS, check, decodeChecked, encoder, fuzzSuite, hex, json, mutatedBytes, nearMiss, shallowJson, throughJson } from '../helpers/fuzz.js'

// Property tests for the `/harombe/complete/1.0.0` frame decoders: whatever bytes a peer sends,
// a decoder returns a Decoded (never throws), rejects with a known reason, and accepts only
// frames that satisfy the schema. A failure prints fast-check's seed and path; pass them to
// fc.assert as { seed, path } to replay the case.

// ---- valid frames ----

// 'binary' (any code point, lone surrogates too) costs a tenth of 'grapheme' and reaches more of UTF-8.
const text = fc.string({ maxLength: 24, unit: 'binary' })
const anyJson = shallowJson()
const name = fc.string({ minLength: 1, maxLength: 16 })
const toolCall = fc.record({ id: fc.string({ maxLength: 8 }), type: fc.constant('function' as const), function: fc.record({ name, arguments: text }) })
const message = fc.oneof(
  fc.record({ role: fc.constantFrom('system' as const, 'user' as const), content: text }),
  fc.record({ role: fc.constant('tool' as const), content: text, tool_call_id: fc.string({ maxLength: 8 }) }, { requiredKeys: ['role', 'content'] }),
  fc.record({ role: fc.constant('assistant' as const), content: fc.option(text, { nil: null }), tool_calls: fc.array(toolCall, { maxLength: 2 }) }, { requiredKeys: ['role', 'content'] })
)
const request = fc.record({
  messages: fc.array(message, { minLength: 1, maxLength: 4 }),
  tools: fc.array(fc.record({ type: fc.constant('function' as const), function: fc.record({ name, description: text, parameters: fc.dictionary(fc.string({ maxLength: 6 }), anyJson, { maxKeys: 3 }) }, { requiredKeys: ['name'] }) }), { maxLength: 2 }),
  temperature: fc.integer({ min: 0, max: 200 }).map(t => t / 100),
  max_tokens: fc.integer({ min: 1, max: 100_000 }),
  model: name,
  tier: fc.constantFrom(0 as const, 1 as const, 2 as const),
  stop: fc.array(fc.string({ minLength: 1, maxLength: 6 }), { maxLength: 3 })
}, { requiredKeys: ['messages'] })
const requestFrame = fc.record({ id: fc.string({ minLength: 1, maxLength: 32 }), request })

const count = fc.nat({ max: 1_000_000 })
const responseFrame = fc.oneof(
  fc.record({ type: fc.constant('delta' as const), content: text }),
  fc.record({
    type: fc.constant('done' as const),
    message: fc.record({ role: fc.constant('assistant' as const), content: fc.option(text, { nil: null }), tool_calls: fc.array(toolCall, { maxLength: 2 }) }, { requiredKeys: ['role', 'content'] }),
    finish_reason: fc.constantFrom('stop' as const, 'length' as const, 'tool_calls' as const),
    model: name,
    usage: fc.record({ prompt_tokens: count, completion_tokens: count, prompt_tokens_details: fc.record({ cached_tokens: count }) }, { requiredKeys: ['prompt_tokens', 'completion_tokens'] }),
    served_by: fc.record({ name, peer_id: name, tier: fc.constantFrom(0 as const, 1 as const, 2 as const) })
  }, { requiredKeys: ['type', 'message', 'finish_reason', 'model', 'usage'] }),
  fc.record({ type: fc.constant('error' as const), code: fc.constantFrom('busy', 'bad_request', 'unavailable', 'future_code'), message: text, retryable: fc.boolean() })
)

// ---- inputs that are not valid frames ----

/** Characters JSON is made of, so random text gets past JSON.parse now and then. */
const jsonish = fc.string({ maxLength: 300, unit: fc.constantFrom(...'{}[]",:0123456789-+.eE \n\\utruefalsnidtypecontentmessagesrole'.split('')) })

const randomInput: fc.Arbitrary<Uint8Array> = fc.oneof(
  fc.uint8Array({ maxLength: 600 }),
  jsonish.map(s => encoder.encode(s)),
  anyJson.map(json),
  nearMiss(requestFrame, anyJson).map(json),
  nearMiss(request, anyJson).map(r => json({ id: 'x', request: r })),
  nearMiss(responseFrame, anyJson).map(json)
)

/** Tokens a byte edit may insert: JSON's punctuation, a number too large for a double, escapes, non-ASCII. */
const TOKENS = ['{', '}', '[', ']', '"', ',', ':', '\\', '-', '0', 'e', 'null', '1e999', '\\u0000', '\u00e9']
const mutatedValid = mutatedBytes(fc.oneof(requestFrame.map(f => encodeRequestFrame(f)), responseFrame.map(f => encodeResponseFrame(f))), TOKENS, 6)

// ---- the property ----

type Stats = Record<'requestOk' | 'requestRejected' | 'responseOk' | 'responseRejected', number>

/** The reasons a decoder may give for a rejection. */
const REASONS = /^(malformed|oversize): \S/

/** Both decoders on one input; what they accept must satisfy the schema, so it survives a second trip. */
function checkBoth (bytes: Uint8Array, stats: Stats): void {
  const req = decodeChecked('decodeRequestFrame', () => decodeRequestFrame(bytes), bytes, REASONS)
  if (req.ok) {
    stats.requestOk++
    assert.ok(req.value.id.length >= 1 && req.value.id.length <= 128, 'id length')
    check(validateRequest(req.value.request).ok, () => `accepted request fails validateRequest: ${hex(bytes)}`)
    // Compared as JSON: a free-form tool parameter may be -0, which travels as 0.
    const again = decodeRequestFrame(encodeRequestFrame(req.value))
    check(again.ok && JSON.stringify(again.value) === JSON.stringify(req.value), () => `${JSON.stringify(req.value)} decodes to ${JSON.stringify(again)} on a second trip`)
  } else {
    stats.requestRejected++
    if (bytes.byteLength > MAX_REQUEST_FRAME_BYTES) assert.match(req.reason, /^oversize/)
  }
  const res = decodeChecked('decodeResponseFrame', () => decodeResponseFrame(bytes), bytes, REASONS)
  if (res.ok) {
    stats.responseOk++
    assert.ok(['delta', 'done', 'error'].includes(res.value.type), 'known frame type')
    // Error messages are truncated on encode, so compare the decoded frame with its own encoding.
    const again = decodeResponseFrame(encodeResponseFrame(res.value))
    const truncated = res.value.type === 'error' && res.value.message.length > MAX_ERROR_MESSAGE_CHARS
    check(again.ok && (truncated || JSON.stringify(again.value) === JSON.stringify(res.value)), () => `${JSON.stringify(res.value)} decodes to ${JSON.stringify(again)} on a second trip`)
  } else {
    stats.responseRejected++
    if (bytes.byteLength > MAX_RESPONSE_FRAME_BYTES) assert.match(res.reason, /^oversize/)
  }
}

describe('protocol frame decoders (fuzz)', function () {
  fuzzSuite(this)

  // Round trips only need to cover the generators' shapes; the 10k budget goes to hostile input.
  it(`should accept every valid frame (${RUNS / 10} cases)`, () => {
    fc.assert(fc.property(requestFrame, responseFrame, (req, res) => {
      const decodedReq = decodeRequestFrame(encodeRequestFrame(req))
      assert.deepEqual(decodedReq, { ok: true, value: throughJson(req) })
      const decodedRes = decodeResponseFrame(encodeResponseFrame(res))
      assert.deepEqual(decodedRes, { ok: true, value: throughJson(res) })
    }), { numRuns: RUNS / 10 })
  })

  it(`should never throw on random input, and accept only schema-valid frames (${RUNS} cases)`, () => {
    const stats: Stats = { requestOk: 0, requestRejected: 0, responseOk: 0, responseRejected: 0 }
    fc.assert(fc.property(randomInput, bytes => { checkBoth(bytes, stats) }), { numRuns: RUNS })
    // The near-miss generators reach the accept path too; otherwise this would only test rejection.
    assert.ok(stats.requestOk > RUNS / 100 && stats.responseOk > RUNS / 100, JSON.stringify(stats))
  })

  it(`should never throw on mutated valid frames (${RUNS} cases)`, () => {
    const stats: Stats = { requestOk: 0, requestRejected: 0, responseOk: 0, responseRejected: 0 }
    fc.assert(fc.property(mutatedValid, bytes => { checkBoth(bytes, stats) }), { numRuns: RUNS })
    assert.ok(stats.requestOk + stats.responseOk > RUNS / 100, `some mutations stay valid: ${JSON.stringify(stats)}`)
    assert.ok(stats.requestRejected > RUNS / 2, JSON.stringify(stats))
  })

  it('should reject frames one byte over each limit as oversize without parsing them', () => {
    const big = new Uint8Array(MAX_REQUEST_FRAME_BYTES + 1).fill(0x20)
    const req = decodeRequestFrame(big)
    assert.ok(!req.ok && req.reason.startsWith('oversize'))
    const res = decodeResponseFrame(big.subarray(0, MAX_RESPONSE_FRAME_BYTES + 1))
    assert.ok(!res.ok && res.reason.startsWith('oversize'))
  })
})
