import assert from 'node:assert/strict'
import {
  fromHarombe, fromOllamaChat, fromOllamaGenerate, fromOpenAI, headerHints,
  HarombeCompleteRequest, OllamaChatRequest, OllamaGenerateRequest, OpenAIChatRequest
} from '../../src/http/request-schemas.js'
import { MAX_KEY_CHARS } from '../../src/protocol/constants.js'
import { validateRequest } from '../../src/protocol/frames.js'

// Issue 23 at the HTTP edge: which key names a conversation, and which cache hints pass through.

const messages = [{ role: 'user', content: 'hi' }]

describe('affinity keys and cache hints at the HTTP edge', () => {
  const openai: Array<[string, Record<string, unknown>, Record<string, string>, Record<string, unknown>]> = [
    ['no key at all', {}, {}, {}],
    ['prompt_cache_key as the key, and passed on', { prompt_cache_key: 'agent-a' }, {}, { affinity_key: 'agent-a', prompt_cache_key: 'agent-a' }],
    ['user when there is no prompt_cache_key (not passed on)', { user: 'u-1' }, {}, { affinity_key: 'u-1' }],
    ['prompt_cache_key over user', { user: 'u-1', prompt_cache_key: 'agent-a' }, {}, { affinity_key: 'agent-a', prompt_cache_key: 'agent-a' }],
    ['the header over both', { user: 'u-1', prompt_cache_key: 'agent-a' }, { 'x-harombe-session': 'conv-9' }, { affinity_key: 'conv-9', prompt_cache_key: 'agent-a' }],
    ['cache_prompt passed on', { cache_prompt: false }, {}, { cache_prompt: false }],
    ['an empty key as none', { user: '' }, { 'x-harombe-session': '  ' }, {}]
  ]
  for (const [what, body, headers, expected] of openai) {
    it(`should take ${what} (OpenAI)`, () => {
      const request = fromOpenAI(OpenAIChatRequest.parse({ messages, ...body }), headerHints(headers))
      const got = Object.fromEntries(['affinity_key', 'prompt_cache_key', 'cache_prompt', 'keep_alive'].filter(k => k in request).map(k => [k, (request as any)[k]]))
      assert.deepEqual(got, expected)
    })
  }

  it('should cut an over-long user id to the key bound, and refuse an over-long prompt_cache_key', () => {
    const long = 'u'.repeat(MAX_KEY_CHARS + 10)
    assert.equal(fromOpenAI(OpenAIChatRequest.parse({ messages, user: long })).affinity_key?.length, MAX_KEY_CHARS)
    assert.equal(OpenAIChatRequest.safeParse({ messages, prompt_cache_key: long }).success, false)
  })

  it('should take session and keep_alive from Ollama bodies, the header first', () => {
    const chat = fromOllamaChat(OllamaChatRequest.parse({ model: 'm', messages, keep_alive: '10m', session: 'body-key' }), headerHints({}))
    assert.equal(chat.affinity_key, 'body-key')
    assert.equal(chat.keep_alive, '10m')
    const generate = fromOllamaGenerate(OllamaGenerateRequest.parse({ model: 'm', prompt: 'hi', keep_alive: -1, session: 'body-key' }), headerHints({ 'x-harombe-session': 'header-key' }))
    assert.equal(generate.affinity_key, 'header-key')
    assert.equal(generate.keep_alive, -1)
    assert.equal('keep_alive' in fromOllamaChat(OllamaChatRequest.parse({ model: 'm', messages })), false, 'absent stays absent')
  })

  it('should take session from /api/complete, the header first', () => {
    assert.equal(fromHarombe(HarombeCompleteRequest.parse({ messages, session: 's-1' })).affinity_key, 's-1')
    assert.equal(fromHarombe(HarombeCompleteRequest.parse({ messages, session: 's-1' }), headerHints({ 'x-harombe-session': 'h' })).affinity_key, 'h')
  })

  it('should keep the tier header working beside the session header', () => {
    assert.deepEqual(headerHints({ 'x-harombe-tier': '2', 'x-harombe-session': 'c' }), { tier: 2, session: 'c' })
  })

  it('should let the mesh carry every hint within its bounds and refuse one beyond', () => {
    const request = fromOpenAI(OpenAIChatRequest.parse({ messages, prompt_cache_key: 'k', cache_prompt: true }), headerHints({ 'x-harombe-session': 's' }))
    const checked = validateRequest({ ...request, keep_alive: '5m' })
    assert.ok(checked.ok)
    assert.deepEqual([checked.value.affinity_key, checked.value.prompt_cache_key, checked.value.cache_prompt, checked.value.keep_alive], ['s', 'k', true, '5m'])
    assert.equal(validateRequest({ messages, affinity_key: 'k'.repeat(MAX_KEY_CHARS + 1) }).ok, false)
    assert.equal(validateRequest({ messages, keep_alive: Number.POSITIVE_INFINITY }).ok, false)
  })
})
