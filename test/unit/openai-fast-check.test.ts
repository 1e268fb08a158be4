import assert from 'node:assert/strict'
import fc from 'fast-check'
import { isPlainOpenAIChat } from '../../src/http/openai-fast-check.js'
import { OpenAIChatRequest } from '../../src/http/request-schemas.js'
import { fuzzSuite, nearMiss, RUNS, shallowJson, throughJson } from '../helpers/fuzz.js'

// The fast path in front of OpenAIChatRequest may accept only bodies the schema accepts and
// returns unchanged; anything else must go to the schema (which applies caps and defaults, or
// answers 400 with its reason).

const maybe = <T>(a: fc.Arbitrary<T>): fc.Arbitrary<T | null> => fc.option(a, { nil: null })
const message = fc.record({
  role: fc.constantFrom('system', 'developer', 'user', 'assistant', 'tool'),
  content: fc.option(fc.string({ maxLength: 8 }), { nil: null }),
  tool_call_id: fc.string({ maxLength: 4 }),
  name: fc.string({ maxLength: 4 }),
  extra: shallowJson()
}, { requiredKeys: ['role'] })
/** Bodies the fast path may take; nearMiss and `odd` break them in the ways the schema cares about. */
const body = fc.record({
  model: fc.string({ maxLength: 8 }),
  messages: fc.array(fc.oneof({ weight: 4, arbitrary: message }, { weight: 1, arbitrary: nearMiss(message, shallowJson()) }), { minLength: 1, maxLength: 3 }),
  temperature: maybe(fc.double({ min: -0.5, max: 2.5, noNaN: true })),
  max_tokens: maybe(fc.oneof(fc.integer({ min: -1, max: 300_000 }), fc.constant(1e12), fc.double({ noNaN: true }))),
  max_completion_tokens: maybe(fc.integer({ min: 0, max: 300_000 })),
  stop: maybe(fc.oneof(fc.string({ maxLength: 3 }), fc.array(fc.string({ maxLength: 3 }), { maxLength: 18 }))),
  stream: maybe(fc.boolean()),
  stream_options: maybe(fc.record({ include_usage: fc.boolean() }, { requiredKeys: [] })),
  tier: fc.integer({ min: -1, max: 3 }),
  top_p: fc.double({ noNaN: true }),
  prompt_cache_key: maybe(fc.oneof(fc.string({ maxLength: 8 }), fc.integer({ min: 1_020, max: 1_030 }).map(n => 'k'.repeat(n)), fc.integer())),
  user: maybe(fc.oneof(fc.string({ maxLength: 8 }), fc.integer())),
  cache_prompt: maybe(fc.oneof(fc.boolean(), fc.constant('yes')))
}, { requiredKeys: ['messages'] })
const odd = fc.constantFrom<Record<string, unknown>>(
  { tools: [{ type: 'function', function: { name: 'f' } }] },
  { messages: [{ role: 'assistant', content: null, tool_calls: [{ id: 'c', function: { name: 'f', arguments: '{}' } }] }] },
  { messages: [{ role: 'user', content: [{ type: 'text', text: 'hi' }] }] },
  { messages: [] },
  { model: null },
  { tier: null },
  { stream: 'yes' },
  { stop: ['a', 1] },
  { stream_options: { include_usage: 1 } }
)
const bodies = fc.oneof(
  { weight: 3, arbitrary: body },
  { weight: 2, arbitrary: nearMiss(body, shallowJson()) },
  { weight: 1, arbitrary: fc.tuple(body, odd).map(([b, o]) => ({ ...b, ...o })) }
).map(throughJson)

describe('OpenAI chat body fast check', function () {
  fuzzSuite(this)

  it(`should accept only what the schema accepts unchanged (${RUNS} cases)`, () => {
    let accepted = 0
    fc.assert(fc.property(bodies, value => {
      if (!isPlainOpenAIChat(value)) return
      accepted++
      const parsed = OpenAIChatRequest.safeParse(value)
      assert.ok(parsed.success, `fast path accepted what the schema rejects: ${JSON.stringify(value)}`)
      assert.deepEqual(parsed.data, value, 'the schema changes an accepted body')
    }), { numRuns: RUNS })
    assert.ok(accepted > RUNS / 100, `only ${accepted} of ${RUNS} took the fast path`)
  })

  const slow: Array<[string, unknown]> = [
    ['max_tokens above the mesh cap (the schema caps it)', { messages: [{ role: 'user', content: 'hi' }], max_tokens: 1e12 }],
    ['tool definitions', { messages: [{ role: 'user', content: 'hi' }], tools: [{ type: 'function', function: { name: 'f' } }] }],
    ['a tool call without a type (the schema adds it)', { messages: [{ role: 'assistant', content: null, tool_calls: [{ id: 'c', function: { name: 'f', arguments: '{}' } }] }] }],
    ['content parts', { messages: [{ role: 'user', content: [{ type: 'text', text: 'hi' }] }] }],
    ['no messages', { messages: [] }]
  ]
  for (const [what, value] of slow) {
    it(`should leave ${what} to the schema`, () => { assert.equal(isPlainOpenAIChat(value), false) })
  }

  it('should take the fast path for an ordinary chat request', () => {
    assert.equal(isPlainOpenAIChat({ model: 'm', messages: [{ role: 'system', content: 'be brief' }, { role: 'user', content: 'hi' }], max_tokens: 16, stream: false, temperature: 0.7, top_p: 1 }), true)
  })
})
