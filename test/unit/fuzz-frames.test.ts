import assert from 'node:assert/strict'
import fc from 'fast-check'
import { MAX_REQUEST_FRAME_BYTES, MAX_RESPONSE_FRAME_BYTES } from '../../src/protocol/constants.js'
import {
  MAX_ERROR_MESSAGE_CHARS,
  decodeRequestFrame,
  decodeResponseFrame,
  encodeRequestFrame,
  encodeResponseFrame,
  validateRequest,
  type Decoded
} from '../../src/protocol/frames.js'

// Property tests for the `/harombe/complete/1.0.0` frame decoders: whatever bytes a peer sends,
// a decoder returns a Decoded (never throws), rejects with a known reason, and accepts only
// frames that satisfy the schema. A failure prints fast-check's seed and path; pass them to
// fc.assert as { seed, path } to replay the case.

/** The suite's case count per property (issue 7: at least 10,000). */
const RUNS = 10_000
/** Far above a decode of a few KB (~20 µs); only a pathological input (a hang) gets near it. */
const MAX_DECODE_MS = 1_000

const encoder = new TextEncoder()
const json = (value: unknown): Uint8Array => encoder.encode(JSON.stringify(value))
const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex').slice(0, 400)
/** assert.ok with a message built only on failure: templates with hex dumps cost more than the decodes. */
function check (condition: boolean, message: () => string): asserts condition {
  if (!condition) assert.fail(message())
}

// ---- valid frames ----

// 'binary' (any code point, lone surrogates too) costs a tenth of 'grapheme' and reaches more of UTF-8.
const text = fc.string({ maxLength: 24, unit: 'binary' })
/** Any JSON value, shallow: fc.jsonValue costs ~100 µs a sample, too slow for 10k runs of several fields. */
const anyJson: fc.Arbitrary<unknown> = fc.oneof(
  fc.constant(null), fc.boolean(), fc.integer(), fc.double(), fc.string({ maxLength: 8 }),
  fc.array(fc.oneof(fc.integer(), fc.string({ maxLength: 4 })), { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 4 }), fc.oneof(fc.integer(), fc.string({ maxLength: 4 })), { maxKeys: 3 })
)
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
    usage: fc.record({ prompt_tokens: count, completion_tokens: count }),
    served_by: fc.record({ name, peer_id: name, tier: fc.constantFrom(0 as const, 1 as const, 2 as const) })
  }, { requiredKeys: ['type', 'message', 'finish_reason', 'model', 'usage'] }),
  fc.record({ type: fc.constant('error' as const), code: fc.constantFrom('busy', 'bad_request', 'unavailable', 'future_code'), message: text, retryable: fc.boolean() })
)

// ---- inputs that are not valid frames ----

/** Characters JSON is made of, so random text gets past JSON.parse now and then. */
const jsonish = fc.string({ maxLength: 300, unit: fc.constantFrom(...'{}[]",:0123456789-+.eE \n\\utruefalsnidtypecontentmessagesrole'.split('')) })

/** Each field valid, missing, or any JSON value: reaches every schema branch with near-misses. */
function nearMiss (valid: fc.Arbitrary<object>): fc.Arbitrary<unknown> {
  return valid.chain(value => {
    const fields = Object.entries(value)
    // Kept with weight 2n against 2 for n fields: about a third of the objects stay valid, the rest break ~1 field.
    const keep = 2 * fields.length
    return fc.record(Object.fromEntries(fields.map(([k, v]) => [k, fc.oneof({ weight: keep, arbitrary: fc.constant(v) }, { weight: 1, arbitrary: anyJson }, { weight: 1, arbitrary: fc.constant(undefined) })])))
  })
}

const randomInput: fc.Arbitrary<Uint8Array> = fc.oneof(
  fc.uint8Array({ maxLength: 600 }),
  jsonish.map(s => encoder.encode(s)),
  anyJson.map(json),
  nearMiss(requestFrame).map(json),
  nearMiss(request).map(r => json({ id: 'x', request: r })),
  nearMiss(responseFrame).map(json)
)

/** Byte-level edits of the kind a buggy or hostile peer produces. */
const edit = fc.oneof(
  fc.record({ op: fc.constant('set' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ op: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ op: fc.constant('insert' as const), at: fc.nat(), bytes: fc.oneof(fc.uint8Array({ minLength: 1, maxLength: 4 }), fc.constantFrom(...['{', '}', '[', ']', '"', ',', ':', '\\', '-', '0', 'e', 'null', '1e999', '\\u0000', '\u00e9'].map(s => encoder.encode(s)))) }),
  fc.record({ op: fc.constant('delete' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 16 }) }),
  fc.record({ op: fc.constant('duplicate' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 32 }), to: fc.nat() }),
  fc.record({ op: fc.constant('truncate' as const), at: fc.nat() }),
  // Keeps the JSON well-formed, so the schema (not the JSON parser) decides: the accept path gets exercised.
  fc.record({ op: fc.constant('digit' as const), at: fc.nat(), digit: fc.integer({ min: 0, max: 9 }) })
)
type Edit = typeof edit extends fc.Arbitrary<infer E> ? E : never

function applyEdits (original: Uint8Array, edits: Edit[]): Uint8Array {
  const b = [...original]
  for (const e of edits) {
    const at = e.at % (b.length + 1)
    if (e.op === 'set' && b.length > 0) b[at % b.length] = e.byte
    else if (e.op === 'flip' && b.length > 0) b[at % b.length] = (b[at % b.length] ?? 0) ^ (1 << e.bit)
    else if (e.op === 'insert') b.splice(at, 0, ...e.bytes)
    else if (e.op === 'delete') b.splice(at, e.length)
    else if (e.op === 'duplicate') b.splice(e.to % (b.length + 1), 0, ...b.slice(at, at + e.length))
    else if (e.op === 'truncate') b.length = at
    else if (e.op === 'digit') {
      const digits = b.flatMap((c, i) => c >= 0x30 && c <= 0x39 ? [i] : [])
      const i = digits[e.at % Math.max(1, digits.length)]
      if (i != null) b[i] = 0x30 + e.digit
    }
  }
  return Uint8Array.from(b)
}

const mutatedValid: fc.Arbitrary<Uint8Array> = fc.tuple(
  fc.oneof(requestFrame.map(f => encodeRequestFrame(f)), responseFrame.map(f => encodeResponseFrame(f))),
  fc.array(edit, { minLength: 1, maxLength: 6 })
).map(([bytes, edits]) => applyEdits(bytes, edits))

// ---- the property ----

type Stats = Record<'requestOk' | 'requestRejected' | 'responseOk' | 'responseRejected', number>

function decodeChecked<T> (name: string, decode: () => Decoded<T>, bytes: Uint8Array): Decoded<T> {
  let result: Decoded<T> | undefined
  let ms = 0
  // A slow call is timed again: a GC pause or a busy machine passes the second time, a pathological input does not.
  for (let attempt = 0; attempt < 2 && (attempt === 0 || ms >= MAX_DECODE_MS); attempt++) {
    const started = performance.now()
    try {
      result = decode()
    } catch (err) {
      assert.fail(`${name} threw ${String(err)} on ${hex(bytes)}`)
    }
    ms = performance.now() - started
  }
  check(ms < MAX_DECODE_MS, () => `${name} took ${Math.round(ms)} ms twice on ${bytes.byteLength} bytes: ${hex(bytes)}`)
  check(result != null && typeof result.ok === 'boolean', () => `${name} returned ${String(result)}`)
  if (!result.ok) check(/^(malformed|oversize): \S/.test(result.reason), () => `${name}: unexpected reason ${result.reason} on ${hex(bytes)}`)
  return result
}

/** Both decoders on one input; what they accept must satisfy the schema, so it survives a second trip. */
function checkBoth (bytes: Uint8Array, stats: Stats): void {
  const req = decodeChecked('decodeRequestFrame', () => decodeRequestFrame(bytes), bytes)
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
  const res = decodeChecked('decodeResponseFrame', () => decodeResponseFrame(bytes), bytes)
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
  // 10k cases take ~1–2 s here; the margin is for a loaded 2-core machine.
  this.timeout(60_000)
  // mocha sets Error.stackTraceLimit to Infinity, so every error a decoder creates (and rejected input
  // creates many) walks the whole fast-check stack: most of this suite's time, and not what a peer
  // pays. Node's default is restored for the fuzz runs.
  let stackTraceLimit = Error.stackTraceLimit
  before(() => { stackTraceLimit = Error.stackTraceLimit; Error.stackTraceLimit = 10 })
  after(() => { Error.stackTraceLimit = stackTraceLimit })

  // Round trips only need to cover the generators' shapes; the 10k budget goes to hostile input.
  it(`should accept every valid frame (${RUNS / 10} cases)`, () => {
    fc.assert(fc.property(requestFrame, responseFrame, (req, res) => {
      const decodedReq = decodeRequestFrame(encodeRequestFrame(req))
      assert.deepEqual(decodedReq, { ok: true, value: JSON.parse(JSON.stringify(req)) })
      const decodedRes = decodeResponseFrame(encodeResponseFrame(res))
      assert.deepEqual(decodedRes, { ok: true, value: JSON.parse(JSON.stringify(res)) })
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
