import assert from 'node:assert/strict'
import { cachedTokensOf, createOpenAIBackend, OPENAI_DEFAULT_CAPACITY } from '../../src/backends/openai.js'
import type { Backend, BackendRequest, ChatMessage, CompletionDelta, ToolDefinition } from '../../src/completion/types.js'
import { startMockOpenAIServer, type MockServer } from '../helpers/mock-openai-server.js'
import { closedPort, rejection } from '../helpers/assertions.js'

const MODEL = 'mock-model'
const TOKENS = ['The', ' quick', ' brown', ' fox']
const WEATHER: ToolDefinition = {
  type: 'function',
  function: { name: 'get_weather', description: 'Current weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } }
}

function ask (fields: Partial<BackendRequest> = {}): BackendRequest {
  return { model: MODEL, messages: [{ role: 'user', content: 'say something' }], ...fields }
}

describe('openai backend', () => {
  let mock: MockServer
  let backend: Backend
  const signal = (): AbortSignal => AbortSignal.timeout(5_000)

  beforeEach(async () => {
    mock = await startMockOpenAIServer({ behavior: { models: [MODEL, 'other-model'], tokens: TOKENS } })
    backend = createOpenAIBackend({ baseUrl: mock.url })
  })

  afterEach(async () => {
    await backend.close()
    await mock.close()
  })

  describe('models', () => {
    it('should list the models the server reports', async () => {
      assert.deepEqual(await backend.models(), [MODEL, 'other-model'])
      assert.equal(mock.requests[0]?.path, '/v1/models')
    })

  })

  describe('settings', () => {
    it('should default capacity to 4 and take a configured one', async () => {
      assert.equal(backend.capacity, OPENAI_DEFAULT_CAPACITY)
      assert.equal(OPENAI_DEFAULT_CAPACITY, 4)
      const eight = createOpenAIBackend({ baseUrl: mock.url, capacity: 8 })
      assert.equal(eight.capacity, 8)
      await eight.close()
    })

    it('should refuse a capacity below 1', () => {
      assert.throws(() => createOpenAIBackend({ baseUrl: mock.url, capacity: 0 }), RangeError)
    })

    it('should send the API key as a bearer token', async () => {
      mock.setBehavior({ apiKey: 'sk-test' })
      const keyed = createOpenAIBackend({ baseUrl: mock.url, apiKey: 'sk-test' })
      await keyed.complete(ask(), { signal: signal() })
      assert.equal(mock.chatRequests()[0]?.headers.authorization, 'Bearer sk-test')
      await keyed.close()
    })
  })

  describe('complete', () => {
    it('should return a non-streamed answer with the server usage', async () => {
      const result = await backend.complete(ask(), { signal: signal() })
      assert.deepEqual(result.message, { role: 'assistant', content: TOKENS.join('') })
      assert.equal(result.finish_reason, 'stop')
      assert.equal(result.model, MODEL)
      assert.deepEqual(result.usage, { prompt_tokens: 2, completion_tokens: TOKENS.length })
      const body = mock.chatRequests()[0]?.body
      assert.equal(body.stream, false)
      assert.equal(body.stream_options, undefined)
    })

    it('should stream deltas in order and take usage from the final chunk', async () => {
      const deltas: CompletionDelta[] = []
      const result = await backend.complete(ask(), { signal: signal(), onDelta: d => deltas.push(d) })
      assert.deepEqual(deltas.map(d => d.content), TOKENS)
      assert.equal(result.message.content, TOKENS.join(''))
      assert.equal(result.finish_reason, 'stop')
      assert.deepEqual(result.usage, { prompt_tokens: 2, completion_tokens: TOKENS.length })
      const body = mock.chatRequests()[0]?.body
      assert.equal(body.stream, true)
      assert.deepEqual(body.stream_options, { include_usage: true })
    })

    it('should count content chunks when the stream has no usage', async () => {
      mock.setBehavior({ usage: false })
      const result = await backend.complete(ask(), { signal: signal(), onDelta: () => {} })
      assert.deepEqual(result.usage, { prompt_tokens: 0, completion_tokens: TOKENS.length })
    })

    it('should send temperature 0 as 0, with max_tokens and stop', async () => {
      await backend.complete(ask({ temperature: 0, max_tokens: 50, stop: ['\n'] }), { signal: signal() })
      const body = mock.chatRequests()[0]?.body
      assert.strictEqual(body.temperature, 0)
      assert.equal(body.max_tokens, 50)
      assert.deepEqual(body.stop, ['\n'])
    })

    it('should leave unset options out of the upstream body', async () => {
      await backend.complete(ask(), { signal: signal() })
      const body = mock.chatRequests()[0]?.body
      for (const key of ['temperature', 'max_tokens', 'stop', 'tools']) assert.equal(key in body, false, `${key} was sent`)
    })

    it('should report length when max_tokens cut the answer', async () => {
      const result = await backend.complete(ask({ max_tokens: 2 }), { signal: signal(), onDelta: () => {} })
      assert.equal(result.message.content, TOKENS.slice(0, 2).join(''))
      assert.equal(result.finish_reason, 'length')
    })

    it('should fail with UnavailableError when the stream is cut before it finishes', async () => {
      mock.setBehavior({ cutAfterTokens: 2 })
      const deltas: string[] = []
      const err = await rejection(backend.complete(ask(), { signal: signal(), onDelta: d => deltas.push(d.content) }))
      assert.equal(err.name, 'UnavailableError', err.message)
      assert.deepEqual(deltas, TOKENS.slice(0, 2))
    })

    it('should let an exception from onDelta through as it is', async () => {
      const boom = new Error('consumer broke')
      const err = await rejection(backend.complete(ask(), { signal: signal(), onDelta: () => { throw boom } }))
      assert.equal(err, boom)
    })
  })

  // Issue 23: the client's cache hints reach the server as they are, and its cache hit comes back.
  describe('prompt cache', () => {
    it('should pass cache_prompt and prompt_cache_key through unchanged, false included', async () => {
      await backend.complete(ask({ cache_prompt: false, prompt_cache_key: 'agent-7' }), { signal: signal() })
      await backend.complete(ask({ cache_prompt: true }), { signal: signal(), onDelta: () => {} })
      const [first, second] = mock.chatRequests().map(r => r.body)
      assert.strictEqual(first.cache_prompt, false)
      assert.equal(first.prompt_cache_key, 'agent-7')
      assert.strictEqual(second.cache_prompt, true)
      assert.equal('prompt_cache_key' in second, false)
    })

    it('should send neither hint when the request set none (server defaults stay in force)', async () => {
      await backend.complete(ask({ affinity_key: 'routing-only' }), { signal: signal() })
      const body = mock.chatRequests()[0]?.body
      for (const key of ['cache_prompt', 'prompt_cache_key', 'affinity_key', 'keep_alive']) assert.equal(key in body, false, `${key} was sent`)
    })

    for (const where of ['usage', 'timings'] as const) {
      for (const streamed of [false, true]) {
        it(`should read the cached prompt tokens from ${where === 'usage' ? 'usage.prompt_tokens_details' : 'llama-server\'s timings.cache_n'}, ${streamed ? 'streamed' : 'whole'}`, async () => {
          mock.setBehavior({ cached: { tokens: 1, in: where } })
          const result = await backend.complete(ask(), { signal: signal(), ...(streamed ? { onDelta: () => {} } : {}) })
          assert.deepEqual(result.usage, { prompt_tokens: 2, completion_tokens: TOKENS.length, prompt_tokens_details: { cached_tokens: 1 } })
        })
      }
    }

    it('should report no cached figure when the server gave none', async () => {
      const result = await backend.complete(ask(), { signal: signal(), onDelta: () => {} })
      assert.equal(result.usage.prompt_tokens_details, undefined)
    })

    it('should never report more cached than prompt tokens', async () => {
      mock.setBehavior({ cached: { tokens: 50, in: 'usage' } })
      const result = await backend.complete(ask(), { signal: signal() })
      assert.deepEqual(result.usage.prompt_tokens_details, { cached_tokens: 2 })
    })
  })

  describe('cachedTokensOf', () => {
    const cases: Array<{ what: string, usage?: unknown, timings?: unknown, expected: number | undefined }> = [
      { what: 'OpenAI\'s field', usage: { prompt_tokens_details: { cached_tokens: 7 } }, expected: 7 },
      { what: 'zero is a figure (a miss), not an absence', usage: { prompt_tokens_details: { cached_tokens: 0 } }, expected: 0 },
      { what: 'llama-server\'s timings when usage has no details', usage: { prompt_tokens: 9 }, timings: { cache_n: 5 }, expected: 5 },
      { what: 'usage wins over timings', usage: { prompt_tokens_details: { cached_tokens: 4 } }, timings: { cache_n: 5 }, expected: 4 },
      { what: 'neither reported', usage: { prompt_tokens: 9 }, expected: undefined },
      { what: 'null details (some servers)', usage: { prompt_tokens_details: null }, expected: undefined },
      { what: 'a negative count is not a figure', usage: { prompt_tokens_details: { cached_tokens: -1 } }, expected: undefined },
      { what: 'a string is not a figure', timings: { cache_n: '5' }, expected: undefined },
      { what: 'a fraction is not a figure', timings: { cache_n: 2.5 }, expected: undefined }
    ]
    for (const c of cases) {
      it(`should give ${String(c.expected)}: ${c.what}`, () => {
        assert.equal(cachedTokensOf(c.usage as any, c.timings as any), c.expected)
      })
    }
  })

  describe('tool calls', () => {
    const calls = [
      { name: 'get_weather', arguments: '{"city":"Paris"}' },
      { name: 'get_weather', arguments: '{"city":"Tokyo"}' }
    ]

    for (const streamed of [false, true]) {
      it(`should round-trip tool calls ${streamed ? 'streamed' : 'non-streamed'}: calls, tool results, final answer`, async () => {
        mock.setBehavior({ toolCalls: calls })
        const onDelta = streamed ? () => {} : undefined
        const question: ChatMessage = { role: 'user', content: 'weather in Paris and Tokyo?' }
        const first = await backend.complete(ask({ messages: [question], tools: [WEATHER] }), { signal: signal(), ...(onDelta != null ? { onDelta } : {}) })
        assert.equal(first.finish_reason, 'tool_calls')
        assert.equal(first.message.content, null)
        assert.deepEqual(first.message.tool_calls, [
          { id: 'call_mock_0', type: 'function', function: calls[0] },
          { id: 'call_mock_1', type: 'function', function: calls[1] }
        ])
        assert.deepEqual(mock.chatRequests()[0]?.body.tools, [WEATHER])

        const history: ChatMessage[] = [
          question,
          { role: 'assistant', content: null, tool_calls: first.message.tool_calls ?? [] },
          { role: 'tool', tool_call_id: 'call_mock_0', content: '18 C' },
          { role: 'tool', tool_call_id: 'call_mock_1', content: '25 C' }
        ]
        const final = await backend.complete(ask({ messages: history, tools: [WEATHER] }), { signal: signal(), ...(onDelta != null ? { onDelta } : {}) })
        assert.equal(final.finish_reason, 'stop')
        assert.equal(final.message.content, 'The tool said: 25 C')
        assert.equal(final.message.tool_calls, undefined)
        const sent = mock.chatRequests()[1]?.body.messages
        assert.deepEqual(sent[1], { role: 'assistant', content: null, tool_calls: first.message.tool_calls })
        assert.deepEqual(sent[2], { role: 'tool', content: '18 C', tool_call_id: 'call_mock_0' })
      })
    }
  })

  describe('errors', () => {
    const cases: Array<{ what: string, status: number, name: string }> = [
      { what: 'bad request', status: 400, name: 'BadRequestError' },
      { what: 'unknown model', status: 404, name: 'UnknownModelError' },
      { what: 'rate limit', status: 429, name: 'BusyError' },
      { what: 'server error', status: 500, name: 'UnavailableError' },
      { what: 'bad gateway', status: 502, name: 'UnavailableError' },
      { what: 'bad key', status: 401, name: 'UnavailableError' }
    ]
    for (const { what, status, name } of cases) {
      it(`should map ${status} (${what}) to ${name}`, async () => {
        mock.setBehavior({ failStatus: status, failMessage: `mock says ${what}` })
        const err = await rejection(backend.complete(ask(), { signal: signal() }))
        assert.equal(err.name, name)
        assert.match(err.message, new RegExp(`${status}: mock says ${what}`))
      })
    }

    it('should map a model the server does not have to UnknownModelError', async () => {
      const err = await rejection(backend.complete(ask({ model: 'missing' }), { signal: signal() }))
      assert.equal(err.name, 'UnknownModelError')
    })

    it('should map a refused connection to UnavailableError', async () => {
      const gone = createOpenAIBackend({ baseUrl: `http://127.0.0.1:${await closedPort()}/v1` })
      const err = await rejection(gone.complete(ask(), { signal: signal() }))
      assert.equal(err.name, 'UnavailableError')
      assert.match(err.message, /ECONNREFUSED/)
      await gone.close()
    })

    it('should fail with TimeoutError when timeoutMs passes before the answer', async () => {
      mock.setBehavior({ firstTokenDelayMs: 2_000 })
      const slow = createOpenAIBackend({ baseUrl: mock.url, timeoutMs: 100 })
      const err = await rejection(slow.complete(ask(), { signal: signal(), onDelta: () => {} }))
      assert.equal(err.name, 'CompletionTimeoutError')
      await slow.close()
    })

    it('should fail with TimeoutError when the caller signal times out', async () => {
      mock.setBehavior({ firstTokenDelayMs: 2_000 })
      const err = await rejection(backend.complete(ask(), { signal: AbortSignal.timeout(100) }))
      assert.equal(err.name, 'CompletionTimeoutError')
    })
  })

  describe('abort', () => {
    it('should abort the upstream request within 100 ms when the caller aborts mid-stream', async () => {
      mock.setBehavior({ tokens: Array.from({ length: 100 }, (_, i) => ` t${i}`), tokenDelayMs: 20 })
      const controller = new AbortController()
      let abortedAt = 0
      let seen = 0
      const pending = backend.complete(ask(), {
        signal: controller.signal,
        onDelta: () => {
          if (++seen === 3) {
            abortedAt = Date.now()
            controller.abort()
          }
        }
      })
      const err = await rejection(pending)
      assert.equal(err.name, 'AbortedError')
      const abort = await mock.waitForAbort(1, 1_000)
      const lag = abort.at - abortedAt
      assert.ok(lag < 100, `the mock saw the abort ${lag} ms after the caller aborted`)
      assert.equal(mock.active, 0)
    })

    it('should abort a non-streamed request that is still waiting', async () => {
      mock.setBehavior({ firstTokenDelayMs: 5_000 })
      const controller = new AbortController()
      const pending = backend.complete(ask(), { signal: controller.signal })
      await mock.waitForRequest(1)
      const abortedAt = Date.now()
      controller.abort()
      const err = await rejection(pending)
      assert.equal(err.name, 'AbortedError')
      const abort = await mock.waitForAbort(1, 1_000)
      assert.ok(abort.at - abortedAt < 100, `the mock saw the abort ${abort.at - abortedAt} ms after the caller aborted`)
    })

    it('should not send anything when the signal is already aborted', async () => {
      const err = await rejection(backend.complete(ask(), { signal: AbortSignal.abort() }))
      assert.equal(err.name, 'AbortedError')
      assert.equal(mock.requests.length, 0)
    })

    it('should abort requests in flight on close and refuse new ones', async () => {
      mock.setBehavior({ firstTokenDelayMs: 5_000 })
      const pending = backend.complete(ask(), { signal: signal() })
      await mock.waitForRequest(1)
      await backend.close()
      assert.equal((await rejection(pending)).name, 'UnavailableError')
      assert.equal((await rejection(backend.complete(ask(), { signal: signal() }))).name, 'UnavailableError')
      await mock.waitForAbort(1, 1_000)
    })
  })

  describe('health', () => {
    it('should report ok with a latency', async () => {
      const health = await backend.health()
      assert.equal(health.ok, true)
      assert.ok(health.ok && health.latencyMs >= 0)
      assert.equal(mock.requests[0]?.path, '/v1/models')
    })

    it('should report the reason when the server fails', async () => {
      mock.setBehavior({ failStatus: 500, failAll: true })
      const health = await backend.health()
      assert.equal(health.ok, false)
      assert.match(!health.ok ? health.reason : '', /500/)
    })

    it('should report a refused connection', async () => {
      const gone = createOpenAIBackend({ baseUrl: `http://127.0.0.1:${await closedPort()}/v1` })
      const health = await gone.health()
      assert.equal(health.ok, false)
      assert.match(!health.ok ? health.reason : '', /ECONNREFUSED/)
      await gone.close()
    })
  })
})
