import assert from 'node:assert/strict'
import { cappedTokens, MAX_REQUEST_TOKENS, requestBudget } from '../../src/completion/token-budget.js'
import { boundedBackend } from '../../src/completion/bounded-backend.js'
import type { Backend, BackendRequest, CompletionResult } from '../../src/completion/types.js'
import { OpenAIChatRequest, OllamaChatRequest, fromOllamaChat, fromOpenAI } from '../../src/http/request-schemas.js'

// Issue 17: no request generates without end. The budget is what it asked for, at most the peer's
// cap and at most what the backend holds; a backend whose server never stops by itself gets the cap.

describe('cappedTokens', () => {
  const cases: Array<{ what: string, requested: number | undefined, cap: number, room?: number, expected: number | undefined }> = [
    { what: 'a request under every bound keeps its number', requested: 100, cap: 8192, room: 2000, expected: 100 },
    { what: 'a request over the cap gets the cap', requested: 1e9, cap: 8192, expected: 8192 },
    { what: 'a request over the context room gets the room', requested: 1e9, cap: 8192, room: 2000, expected: 2000 },
    { what: 'the room wins when it is below the cap', requested: 5000, cap: 8192, room: 1500, expected: 1500 },
    { what: 'the cap wins when it is below the room', requested: 5000, cap: 64, room: 1500, expected: 64 },
    { what: 'cap 0 means no cap: the room still bounds', requested: 1e9, cap: 0, room: 2000, expected: 2000 },
    { what: 'cap 0 and no known room: the request as asked', requested: 1e9, cap: 0, expected: 1e9 },
    { what: 'no number asked: the tightest bound', requested: undefined, cap: 8192, room: 300, expected: 300 },
    { what: 'no number asked, cap only: the cap', requested: undefined, cap: 8192, expected: 8192 },
    { what: 'nothing bounds it: undefined (the backend default applies)', requested: undefined, cap: 0, expected: undefined },
    { what: 'at least one token, even with no room left', requested: 10, cap: 8192, room: 0, expected: 1 },
    { what: 'a fraction is rounded down', requested: 10.7, cap: 0, expected: 10 },
    { what: 'a request equal to the cap is the cap', requested: 8192, cap: 8192, expected: 8192 }
  ]
  for (const c of cases) {
    it(`should give ${String(c.expected)}: ${c.what}`, () => {
      assert.equal(cappedTokens(c.requested, c.cap, c.room), c.expected)
    })
  }
})

describe('requestBudget (what reaches the backend)', () => {
  const cases: Array<{ kind: Backend['kind'], requested: number | undefined, cap: number, backendDefault?: number, expected: number | undefined, why: string }> = [
    { kind: 'embedded', requested: 1e9, cap: 8192, expected: 8192, why: 'capped' },
    { kind: 'embedded', requested: undefined, cap: 8192, expected: 8192, why: 'it runs until the model stops: the cap bounds it (issue 27: no hidden 256)' },
    { kind: 'embedded', requested: undefined, cap: 0, expected: undefined, why: 'no cap configured: the context bounds it' },
    { kind: 'embedded', requested: undefined, cap: 8192, backendDefault: 256, expected: 256, why: 'the tiny model\'s own default (it never stops)' },
    { kind: 'embedded', requested: 1000, cap: 8192, backendDefault: 256, expected: 1000, why: 'a request\'s own number beats the backend default' },
    { kind: 'embedded', requested: undefined, cap: 100, backendDefault: 256, expected: 100, why: 'the cap bounds the backend default too' },
    { kind: 'openai', requested: 1e9, cap: 8192, expected: 8192, why: 'capped' },
    { kind: 'openai', requested: undefined, cap: 8192, expected: undefined, why: 'the server bounds it by the context; a filled-in cap could be a 400' },
    { kind: 'ollama', requested: undefined, cap: 8192, expected: 8192, why: 'num_predict defaults to infinite: the cap goes instead' },
    { kind: 'ollama', requested: 50, cap: 8192, expected: 50, why: 'under the cap' },
    { kind: 'ollama', requested: undefined, cap: 0, expected: undefined, why: 'no cap configured' },
    { kind: 'test', requested: 20_000, cap: 100, expected: 100, why: 'capped' }
  ]
  for (const c of cases) {
    it(`should pass ${String(c.expected)} to ${c.kind} for ${String(c.requested)} with cap ${c.cap}: ${c.why}`, () => {
      assert.equal(requestBudget(c.kind, c.requested, c.cap, c.backendDefault), c.expected)
    })
  }
})

describe('boundedBackend', () => {
  const result: CompletionResult = { message: { role: 'assistant', content: 'x' }, finish_reason: 'length', model: 'm', usage: { prompt_tokens: 1, completion_tokens: 1 } }
  const recording = (kind: Backend['kind']): Backend & { seen: BackendRequest[] } => {
    const seen: BackendRequest[] = []
    return {
      kind,
      capacity: 1,
      seen,
      models: async () => ['m'],
      health: async () => ({ ok: true, latencyMs: 0 }),
      close: async () => {},
      complete: async request => { seen.push(request); return result }
    }
  }
  const request = (max?: number): BackendRequest => ({ model: 'm', messages: [{ role: 'user', content: 'hi' }], ...(max != null ? { max_tokens: max } : {}) })

  it('should hand the backend the capped max_tokens, and an untouched request when under the cap', async () => {
    const inner = recording('embedded')
    const backend = boundedBackend(inner, { maxTokensCap: 64 })
    const under = request(10)
    await backend.complete(request(1e9), { signal: new AbortController().signal })
    await backend.complete(under, { signal: new AbortController().signal })
    assert.deepEqual(inner.seen.map(r => r.max_tokens), [64, 10])
    assert.equal(inner.seen[1], under, 'a request under the cap is passed as is, not copied')
  })

  it('should fill the cap in for ollama when the request sets none', async () => {
    const inner = recording('ollama')
    const backend = boundedBackend(inner, { maxTokensCap: 500 })
    await backend.complete(request(), { signal: new AbortController().signal })
    assert.equal(inner.seen[0]?.max_tokens, 500)
  })

  it('should give the backend its own default for a request that sets none, under the cap', async () => {
    const inner = { ...recording('embedded'), defaultMaxTokens: 256 }
    await boundedBackend(inner, { maxTokensCap: 8192 }).complete(request(), { signal: new AbortController().signal })
    await boundedBackend(inner, { maxTokensCap: 100 }).complete(request(), { signal: new AbortController().signal })
    assert.deepEqual(inner.seen.map(r => r.max_tokens), [256, 100])
  })
})

describe('max_tokens at the HTTP edge', () => {
  it('should pass a huge max_tokens on as the mesh protocol\'s bound, not refuse it', () => {
    const openai = OpenAIChatRequest.parse({ messages: [{ role: 'user', content: 'hi' }], max_tokens: 1e12 })
    assert.equal(fromOpenAI(openai).max_tokens, MAX_REQUEST_TOKENS)
    const ollama = OllamaChatRequest.parse({ model: 'm', messages: [{ role: 'user', content: 'hi' }], options: { num_predict: 1e12 } })
    assert.equal(fromOllamaChat(ollama).max_tokens, MAX_REQUEST_TOKENS)
    assert.equal(fromOpenAI(OpenAIChatRequest.parse({ messages: [{ role: 'user', content: 'hi' }], max_tokens: 42 })).max_tokens, 42)
  })
})
