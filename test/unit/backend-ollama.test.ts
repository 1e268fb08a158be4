import assert from 'node:assert/strict'
import {
  createOllamaBackend,
  fromOllamaToolCall,
  OLLAMA_DEFAULT_CAPACITY,
  ollamaChatBody,
  toOllamaMessages
} from '../../src/backends/ollama.js'
import type { Backend, BackendRequest, ChatMessage, CompletionDelta, ToolDefinition } from '../../src/completion/types.js'
import { startMockOllamaServer, type MockServer } from '../helpers/mock-ollama-server.js'
import { closedPort, rejection } from '../helpers/assertions.js'

const MODEL = 'llama3.2:3b'
const TOKENS = ['The', ' quick', ' brown', ' fox']
const WEATHER: ToolDefinition = {
  type: 'function',
  function: { name: 'get_weather', description: 'Current weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } }
}

function ask (fields: Partial<BackendRequest> = {}): BackendRequest {
  return { model: MODEL, messages: [{ role: 'user', content: 'say something' }], ...fields }
}

describe('ollama backend', () => {
  let mock: MockServer
  let backend: Backend
  const signal = (): AbortSignal => AbortSignal.timeout(5_000)

  beforeEach(async () => {
    mock = await startMockOllamaServer({ behavior: { models: [MODEL, 'qwen2.5:0.5b'], tokens: TOKENS } })
    backend = createOllamaBackend({ baseUrl: mock.url })
  })

  afterEach(async () => {
    await backend.close()
    await mock.close()
  })

  describe('models', () => {
    it('should list the models from /api/tags', async () => {
      assert.deepEqual(await backend.models(), [MODEL, 'qwen2.5:0.5b'])
      assert.equal(mock.requests[0]?.path, '/api/tags')
    })


    it('should default capacity to OLLAMA_NUM_PARALLEL\'s default of 1', () => {
      assert.equal(backend.capacity, OLLAMA_DEFAULT_CAPACITY)
      assert.equal(OLLAMA_DEFAULT_CAPACITY, 1)
    })
  })

  describe('complete', () => {
    it('should return a non-streamed answer with eval counts as usage', async () => {
      const result = await backend.complete(ask(), { signal: signal() })
      assert.deepEqual(result.message, { role: 'assistant', content: TOKENS.join('') })
      assert.equal(result.finish_reason, 'stop')
      assert.equal(result.model, MODEL)
      assert.deepEqual(result.usage, { prompt_tokens: 2, completion_tokens: TOKENS.length })
      // Ollama streams when `stream` is missing, so false must be sent.
      assert.strictEqual(mock.chatRequests()[0]?.body.stream, false)
    })

    it('should stream deltas in order and take usage from the done record', async () => {
      const deltas: CompletionDelta[] = []
      const result = await backend.complete(ask(), { signal: signal(), onDelta: d => deltas.push(d) })
      assert.deepEqual(deltas.map(d => d.content), TOKENS)
      assert.equal(result.message.content, TOKENS.join(''))
      assert.deepEqual(result.usage, { prompt_tokens: 2, completion_tokens: TOKENS.length })
      assert.strictEqual(mock.chatRequests()[0]?.body.stream, true)
    })

    it('should count content chunks when the done record has no counts', async () => {
      mock.setBehavior({ usage: false })
      const result = await backend.complete(ask(), { signal: signal(), onDelta: () => {} })
      assert.deepEqual(result.usage, { prompt_tokens: 0, completion_tokens: TOKENS.length })
    })

    it('should send temperature 0 as 0, max_tokens as num_predict and stop', async () => {
      await backend.complete(ask({ temperature: 0, max_tokens: 50, stop: ['\n'] }), { signal: signal() })
      assert.deepEqual(mock.chatRequests()[0]?.body.options, { temperature: 0, num_predict: 50, stop: ['\n'] })
      assert.strictEqual(mock.chatRequests()[0]?.body.options.temperature, 0)
    })

    it('should send no options when none are set', async () => {
      await backend.complete(ask(), { signal: signal() })
      assert.equal('options' in mock.chatRequests()[0]?.body, false)
      assert.equal('keep_alive' in mock.chatRequests()[0]?.body, false)
    })

    it('should pass keep_alive through unchanged, a duration or a number of seconds (issue 23)', async () => {
      await backend.complete(ask({ keep_alive: '30m' }), { signal: signal() })
      await backend.complete(ask({ keep_alive: 0 }), { signal: signal(), onDelta: () => {} })
      assert.deepEqual(mock.chatRequests().map(r => r.body.keep_alive), ['30m', 0])
    })

    it('should map done_reason length to length', async () => {
      const result = await backend.complete(ask({ max_tokens: 2 }), { signal: signal(), onDelta: () => {} })
      assert.equal(result.message.content, TOKENS.slice(0, 2).join(''))
      assert.equal(result.finish_reason, 'length')
    })

    it('should fail with UnavailableError when the stream ends without its done record', async () => {
      mock.setBehavior({ cutAfterTokens: 2 })
      const deltas: string[] = []
      const err = await rejection(backend.complete(ask(), { signal: signal(), onDelta: d => deltas.push(d.content) }))
      assert.equal(err.name, 'UnavailableError', err.message)
      assert.deepEqual(deltas, TOKENS.slice(0, 2))
    })
  })

  describe('tool calls', () => {
    const calls = [
      { name: 'get_weather', arguments: '{"city":"Paris"}' },
      { name: 'get_weather', arguments: '{"city":"Tokyo"}' }
    ]

    for (const streamed of [false, true]) {
      it(`should round-trip tool calls ${streamed ? 'streamed' : 'non-streamed'}: object arguments, ids, tool results`, async () => {
        mock.setBehavior({ toolCalls: calls })
        const onDelta = streamed ? () => {} : undefined
        const question: ChatMessage = { role: 'user', content: 'weather in Paris and Tokyo?' }
        const first = await backend.complete(ask({ messages: [question], tools: [WEATHER] }), { signal: signal(), ...(onDelta != null ? { onDelta } : {}) })
        assert.equal(first.finish_reason, 'tool_calls')
        assert.equal(first.message.content, null)
        assert.deepEqual(first.message.tool_calls, [
          { id: 'call_0', type: 'function', function: calls[0] },
          { id: 'call_1', type: 'function', function: calls[1] }
        ])
        assert.deepEqual(mock.chatRequests()[0]?.body.tools, [WEATHER])

        const history: ChatMessage[] = [
          question,
          { role: 'assistant', content: null, tool_calls: first.message.tool_calls ?? [] },
          { role: 'tool', tool_call_id: 'call_0', content: '18 C' },
          { role: 'tool', tool_call_id: 'call_1', content: '25 C' }
        ]
        const final = await backend.complete(ask({ messages: history, tools: [WEATHER] }), { signal: signal(), ...(onDelta != null ? { onDelta } : {}) })
        assert.equal(final.finish_reason, 'stop')
        assert.equal(final.message.content, 'The tool said: 25 C')
        const sent = mock.chatRequests()[1]?.body.messages
        assert.deepEqual(sent[1], {
          role: 'assistant',
          content: '',
          tool_calls: [
            { function: { name: 'get_weather', arguments: { city: 'Paris' } } },
            { function: { name: 'get_weather', arguments: { city: 'Tokyo' } } }
          ]
        })
        assert.deepEqual(sent[2], { role: 'tool', content: '18 C', tool_name: 'get_weather' })
      })
    }

    it('should keep an id Ollama gives and stringify object arguments', () => {
      assert.deepEqual(fromOllamaToolCall({ id: 'abc', function: { name: 'f', arguments: { a: [1, 2] } } }, 3),
        { id: 'abc', type: 'function', function: { name: 'f', arguments: '{"a":[1,2]}' } })
      assert.deepEqual(fromOllamaToolCall({ function: { name: 'f' } }, 3),
        { id: 'call_3', type: 'function', function: { name: 'f', arguments: '{}' } })
    })

    it('should name a tool result by the nearest earlier call with its id', () => {
      const messages: ChatMessage[] = [
        { role: 'assistant', content: null, tool_calls: [{ id: 'call_0', type: 'function', function: { name: 'old', arguments: '' } }] },
        { role: 'tool', tool_call_id: 'call_0', content: 'a' },
        { role: 'assistant', content: null, tool_calls: [{ id: 'call_0', type: 'function', function: { name: 'new', arguments: '{}' } }] },
        { role: 'tool', tool_call_id: 'call_0', content: 'b' }
      ]
      const out = toOllamaMessages(messages)
      assert.equal(out[1]?.tool_name, 'old')
      assert.equal(out[3]?.tool_name, 'new')
      assert.deepEqual(out[0]?.tool_calls, [{ function: { name: 'old', arguments: {} } }])
    })

    it('should refuse tool-call arguments that are not a JSON object with BadRequestError', () => {
      for (const args of ['{not json', '[1]', '"text"']) {
        const request = ask({ messages: [{ role: 'assistant', content: null, tool_calls: [{ id: 'c', type: 'function', function: { name: 'f', arguments: args } }] }] })
        assert.throws(() => ollamaChatBody(request, false), { name: 'BadRequestError' }, args)
      }
    })
  })

  describe('errors', () => {
    const cases: Array<{ what: string, status: number, message?: string, name: string }> = [
      { what: 'bad request', status: 400, name: 'BadRequestError' },
      { what: 'unknown model', status: 404, name: 'UnknownModelError' },
      { what: 'rate limit', status: 429, name: 'BusyError' },
      { what: 'queue full', status: 503, message: 'server busy, please try again.  maximum pending requests exceeded', name: 'BusyError' },
      { what: 'server error', status: 500, name: 'UnavailableError' }
    ]
    for (const { what, status, message, name } of cases) {
      it(`should map ${status} (${what}) to ${name}`, async () => {
        mock.setBehavior({ failStatus: status, failMessage: message ?? `mock says ${what}` })
        const err = await rejection(backend.complete(ask(), { signal: signal() }))
        assert.equal(err.name, name)
        assert.match(err.message, new RegExp(`${status}: `))
      })
    }

    it('should map a model the server does not have to UnknownModelError', async () => {
      const err = await rejection(backend.complete(ask({ model: 'missing:7b' }), { signal: signal() }))
      assert.equal(err.name, 'UnknownModelError')
      assert.match(err.message, /missing:7b/)
    })

    it('should map a refused connection to UnavailableError', async () => {
      const gone = createOllamaBackend({ baseUrl: `http://127.0.0.1:${await closedPort()}` })
      const err = await rejection(gone.complete(ask(), { signal: signal() }))
      assert.equal(err.name, 'UnavailableError')
      assert.match(err.message, /ECONNREFUSED/)
      await gone.close()
    })

    it('should fail with TimeoutError when timeoutMs passes before the answer', async () => {
      mock.setBehavior({ firstTokenDelayMs: 2_000 })
      const slow = createOllamaBackend({ baseUrl: mock.url, timeoutMs: 100 })
      const err = await rejection(slow.complete(ask(), { signal: signal(), onDelta: () => {} }))
      assert.equal(err.name, 'CompletionTimeoutError')
      await slow.close()
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
      assert.equal((await rejection(pending)).name, 'AbortedError')
      const abort = await mock.waitForAbort(1, 1_000)
      assert.ok(abort.at - abortedAt < 100, `the mock saw the abort ${abort.at - abortedAt} ms after the caller aborted`)
    })
  })

  describe('health', () => {
    it('should report ok with a latency from /api/version', async () => {
      const health = await backend.health()
      assert.equal(health.ok, true)
      assert.ok(health.ok && health.latencyMs >= 0)
      assert.equal(mock.requests[0]?.path, '/api/version')
    })

    it('should report a refused connection', async () => {
      const gone = createOllamaBackend({ baseUrl: `http://127.0.0.1:${await closedPort()}` })
      const health = await gone.health()
      assert.equal(health.ok, false)
      assert.match(!health.ok ? health.reason : '', /ECONNREFUSED/)
      await gone.close()
    })
  })
})
