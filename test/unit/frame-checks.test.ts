import assert from 'node:assert/strict'
import fc from 'fast-check'
import { isCompletionRequest, isRequestFrame, isResponseFrame } from '../../src/protocol/frame-checks.js'
import { frameSchemas } from '../../src/protocol/frames.js'
import { encoder, fuzzSuite, mutatedBytes, nearMiss, RUNS, shallowJson, throughJson } from '../helpers/fuzz.js'

// The hand-written frame checks are a fast path in front of the zod schemas: whatever they accept,
// the schema must accept too, with nothing to strip (its output equals the input). Rejecting more
// than the schema only costs speed, but the fast path should cover ordinary frames.

type Check = (v: unknown) => boolean
type Schema = (typeof frameSchemas)[keyof typeof frameSchemas]

/** The fast path agrees with the schema on `value`: an acceptance is the schema's own, unchanged. */
function agrees (check: Check, schema: Schema, value: unknown): boolean {
  if (!check(value)) return false
  const result = schema.safeParse(value)
  assert.ok(result.success, `fast path accepted what the schema rejects: ${JSON.stringify(value)} (${result.error?.issues[0]?.message ?? ''})`)
  assert.deepEqual(result.data, value, `the schema changes an accepted value: ${JSON.stringify(value)}`)
  return true
}

const text = fc.string({ maxLength: 12, unit: 'binary' })
const name = fc.string({ minLength: 1, maxLength: 16 })
const toolCall = fc.record({ id: fc.string({ maxLength: 8 }), type: fc.constant('function'), function: fc.record({ name, arguments: text }) })
const message = fc.oneof(
  fc.record({ role: fc.constantFrom('system', 'user'), content: text }),
  fc.record({ role: fc.constant('tool'), content: text, tool_call_id: fc.string({ maxLength: 8 }), name: fc.string({ maxLength: 8 }) }, { requiredKeys: ['role', 'content'] }),
  fc.record({ role: fc.constant('assistant'), content: fc.option(text, { nil: null }), tool_calls: fc.array(toolCall, { maxLength: 2 }) }, { requiredKeys: ['role', 'content'] })
)
const anyJson = shallowJson()
/** Mostly `usual`, one time in twenty `odd`: enough odd values to test, few enough that most requests stay valid. */
const rarely = <T, U>(usual: fc.Arbitrary<T>, odd: fc.Arbitrary<U>): fc.Arbitrary<T | U> => fc.oneof({ weight: 19, arbitrary: usual }, { weight: 1, arbitrary: odd })
const request = fc.record({
  messages: fc.array(message, { minLength: 1, maxLength: 3 }),
  tools: fc.array(fc.record({ type: fc.constant('function'), function: fc.record({ name, description: text, parameters: fc.dictionary(fc.string({ maxLength: 10 }), anyJson, { maxKeys: 3 }) }, { requiredKeys: ['name'] }) }), { maxLength: 2 }),
  temperature: fc.double({ min: -0.5, max: 2.5, noNaN: true }),
  max_tokens: fc.integer({ min: -1, max: 300_000 }),
  model: fc.string({ maxLength: 8 }),
  tier: fc.integer({ min: -1, max: 3 }),
  stop: fc.array(fc.string({ maxLength: 4 }), { maxLength: 3 }),
  continuation: fc.record({ prefix: text }),
  // Issue 23's cache hints; now and then around their bounds (1,024 and 64 characters) or of a wrong type
  affinity_key: rarely(fc.string({ maxLength: 8 }), fc.integer({ min: 1_020, max: 1_030 }).map(n => 'k'.repeat(n))),
  prompt_cache_key: rarely(fc.string({ maxLength: 8 }), fc.oneof(fc.integer({ min: 1_020, max: 1_030 }).map(n => 'k'.repeat(n)), fc.integer())),
  cache_prompt: rarely(fc.boolean(), fc.constant('yes')),
  keep_alive: rarely(fc.oneof(fc.string({ maxLength: 8 }), fc.integer()), fc.oneof(fc.integer({ min: 60, max: 70 }).map(n => '5'.repeat(n)), fc.double(), fc.constant(null)))
}, { requiredKeys: ['messages'] })
const requestFrame = fc.record({ id: fc.string({ maxLength: 130 }), request })
const count = fc.oneof(fc.nat(), fc.integer({ min: -2, max: 2 }), fc.double())
const responseFrame = fc.oneof(
  fc.record({ type: fc.constant('delta'), content: text, tokens: count }, { requiredKeys: ['type', 'content'] }),
  fc.record({
    type: fc.constant('done'),
    message: fc.record({ role: fc.constant('assistant'), content: fc.option(text, { nil: null }), tool_calls: fc.array(toolCall, { maxLength: 2 }) }, { requiredKeys: ['role', 'content'] }),
    finish_reason: fc.constantFrom('stop', 'length', 'tool_calls', 'eos'),
    model: fc.string({ maxLength: 8 }),
    usage: fc.record({ prompt_tokens: count, completion_tokens: count, prompt_tokens_details: fc.record({ cached_tokens: count }) }, { requiredKeys: ['prompt_tokens', 'completion_tokens'] }),
    served_by: fc.record({ name, peer_id: fc.string({ maxLength: 130 }), tier: fc.integer({ min: 0, max: 3 }) }),
    load: fc.record({ active: count, queued: count, capacity: count })
  }, { requiredKeys: ['type', 'message', 'finish_reason', 'model', 'usage'] }),
  fc.record({ type: fc.constant('error'), code: fc.string({ maxLength: 66 }), message: text, retryable: fc.oneof(fc.boolean(), fc.constant(1)) })
)

/** Candidates as a peer would see them: through JSON, near misses included. */
const asJson = (a: fc.Arbitrary<object>): fc.Arbitrary<unknown> => fc.oneof(a, nearMiss(a, anyJson)).map(throughJson)
/** Byte edits that keep the text JSON now and then. */
const mutated = (a: fc.Arbitrary<object>): fc.Arbitrary<unknown> => mutatedBytes(a.map(v => encoder.encode(JSON.stringify(v))), ['"', '0', '-', 'null', ',"x":1'], 3)
  .map(bytes => { try { return JSON.parse(new TextDecoder().decode(bytes)) } catch { return undefined } })

describe('hand-written frame checks', function () {
  fuzzSuite(this)

  const cases: Array<[string, Check, Schema, fc.Arbitrary<object>]> = [
    ['request frames', isRequestFrame, frameSchemas.requestFrame, requestFrame],
    ['requests', isCompletionRequest, frameSchemas.request, request],
    ['response frames', isResponseFrame, frameSchemas.responseFrame, responseFrame]
  ]
  for (const [what, check, schema, valid] of cases) {
    it(`should accept only what the schema accepts unchanged, for ${what} (${RUNS} cases)`, () => {
      let accepted = 0
      fc.assert(fc.property(fc.oneof(asJson(valid), mutated(valid)), value => { if (agrees(check, schema, value)) accepted++ }), { numRuns: RUNS })
      // Otherwise the property holds only because nothing takes the fast path.
      assert.ok(accepted > RUNS / 20, `only ${accepted} of ${RUNS} took the fast path`)
    })
  }

  const ok = { messages: [{ role: 'user', content: 'hi' }] }
  const done = { type: 'done', message: { role: 'assistant', content: 'x' }, finish_reason: 'stop', model: 'm', usage: { prompt_tokens: 1, completion_tokens: 1 } }
  const slowPath: Array<[string, Check, unknown]> = [
    ['an unknown request field (the schema drops it)', isCompletionRequest, { ...ok, stream: true }],
    ['an unknown frame field', isRequestFrame, { id: 'x', request: ok, extra: 1 }],
    ['an id over the limit', isRequestFrame, { id: 'x'.repeat(129), request: ok }],
    ['null content from a user', isCompletionRequest, { messages: [{ role: 'user', content: null }] }],
    ['tool parameters with a __proto__ key', isCompletionRequest, { ...ok, tools: [{ type: 'function', function: { name: 'f', parameters: JSON.parse('{"__proto__":{"a":1}}') } }] }],
    ['temperature above 2', isCompletionRequest, { ...ok, temperature: 2.0001 }],
    ['max_tokens as a fraction', isCompletionRequest, { ...ok, max_tokens: 1.5 }],
    ['a class instance as a message', isCompletionRequest, { messages: [new (class { role = 'user'; content = 'hi' })()] }],
    ['an unknown field in a done message', isResponseFrame, { ...done, message: { ...done.message, refusal: null } }],
    ['a done trailer over the name limit', isResponseFrame, { ...done, model: 'm'.repeat(257) }],
    ['an unknown usage detail', isResponseFrame, { ...done, usage: { ...done.usage, prompt_tokens_details: { cached_tokens: 1, audio_tokens: 0 } } }],
    ['an error without retryable', isResponseFrame, { type: 'error', code: 'busy', message: 'x' }]
  ]
  for (const [what, check, value] of slowPath) {
    it(`should leave ${what} to the schema`, () => { assert.equal(check(value), false) })
  }

  it('should take the fast path for ordinary frames', () => {
    assert.equal(isRequestFrame({ id: 'x', request: { ...ok, model: 'm', max_tokens: 16, temperature: 0, tier: 1, stop: ['\n'] } }), true)
    assert.equal(isRequestFrame({ id: 'x', request: { ...ok, affinity_key: 'conv-1', prompt_cache_key: 'agent-a', cache_prompt: true, keep_alive: '5m' } }), true)
    assert.equal(isRequestFrame({ id: 'x', request: { ...ok, keep_alive: -1 } }), true)
    assert.equal(isResponseFrame({ ...done, served_by: { name: 'a', peer_id: 'p', tier: 0 }, load: { active: 1, queued: 0, capacity: 4 } }), true)
    assert.equal(isResponseFrame({ ...done, usage: { ...done.usage, prompt_tokens_details: { cached_tokens: 1 } } }), true)
    assert.equal(isResponseFrame({ type: 'delta', content: 'abc', tokens: 3 }), true)
    assert.equal(isResponseFrame({ type: 'error', code: 'busy', message: 'full', retryable: true }), true)
  })
})
