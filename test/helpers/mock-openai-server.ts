// A small OpenAI-compatible upstream (llama-server / vLLM stand-in) for tests:
// GET /v1/models, POST /v1/chat/completions (SSE or JSON, tool calls, usage), configurable timing
// and failures, with every request and every client abort recorded. See mock-llm.ts for the knobs.
import type { ServerResponse } from 'node:http'
import { halves, mockEmbedding, planTurn, promptTokens, startMock, type ChatContext, type MockBehavior, type MockPostAnswer, type MockServer, type MockStartOptions } from './mock-llm.js'

export type { MockBehavior, MockServer, MockStartOptions, RecordedRequest, AbortRecord, MockToolCall } from './mock-llm.js'

let completions = 0

/**
 * Starts the mock on 127.0.0.1 (port 0 unless given). Its `url` ends in `/v1`, as the OpenAI
 * SDK and the openai backend take a base URL.
 */
export async function startMockOpenAIServer (options: MockStartOptions = {}): Promise<MockServer> {
  return await startMock({
    prefix: '/v1',
    chatPath: '/chat/completions',
    model: body => body?.model,
    errorBody: (status, message) => ({
      error: {
        message,
        type: status === 429 ? 'rate_limit_error' : status >= 500 ? 'server_error' : 'invalid_request_error',
        code: status === 404 ? 'model_not_found' : null
      }
    }),
    get (path, behavior) {
      if (path !== '/models') return undefined
      return { object: 'list', data: behavior.models.map(id => ({ id, object: 'model', created: 0, owned_by: 'mock', ...(behavior.contextLength != null ? { meta: { n_ctx_train: behavior.contextLength } } : {}) })) }
    },
    chat,
    post (path, body, behavior) {
      if (path === '/completions') return textCompletion(body, behavior)
      if (path !== '/embeddings') return undefined
      // llama-server's answer when started without --embeddings.
      if (behavior.embedRefuse === true) return { status: 501, body: { error: { code: 501, message: 'This server does not support embeddings. Start it with `--embeddings`', type: 'not_supported_error' } } }
      if (!behavior.models.includes(body?.model)) return { status: 404, body: { error: { message: `model '${String(body?.model)}' not found`, type: 'invalid_request_error', code: 'model_not_found' } } }
      const inputs: unknown[] = Array.isArray(body.input) ? body.input : [body.input]
      const data = inputs.map((input, index) => ({ object: 'embedding', index, embedding: mockEmbedding(typeof input === 'string' ? input : JSON.stringify(input)) }))
      const tokens = inputs.reduce<number>((n, input) => n + (typeof input === 'string' ? input.split(/\s+/).length : (input as unknown[]).length), 0)
      return { status: 200, body: { object: 'list', data, model: body.model, usage: { prompt_tokens: tokens, total_tokens: tokens } } }
    }
  }, options)
}

/** `/v1/completions`: the behaviour's tokens after the raw prompt, SSE or JSON; prompt tokens = words of the prompt. */
function textCompletion (body: any, behavior: MockBehavior): MockPostAnswer {
  if (!behavior.models.includes(body?.model)) return { status: 404, body: { error: { message: `model '${String(body?.model)}' not found`, type: 'invalid_request_error', code: 'model_not_found' } } }
  const id = `cmpl-mock-${++completions}`
  const created = Math.floor(Date.now() / 1000)
  const tokens = behavior.tokens.slice(0, body.max_tokens ?? behavior.tokens.length)
  const finish = tokens.length < behavior.tokens.length ? 'length' : 'stop'
  const prompt = String(body.prompt).split(/\s+/).length
  const usage = { prompt_tokens: prompt, completion_tokens: tokens.length, total_tokens: prompt + tokens.length }
  if (body.stream !== true) {
    return { status: 200, body: { id, object: 'text_completion', created, model: body.model, choices: [{ index: 0, text: tokens.join(''), logprobs: null, finish_reason: finish }], usage } }
  }
  const event = (value: unknown): string => `data: ${JSON.stringify(value)}\n\n`
  const chunk = (text: string, finishReason: string | null): string => event({ id, object: 'text_completion', created, model: body.model, choices: [{ index: 0, text, logprobs: null, finish_reason: finishReason }] })
  const text = tokens.map(t => chunk(t, null)).join('') + chunk('', finish) +
    (body.stream_options?.include_usage === true ? event({ id, object: 'text_completion', created, model: body.model, choices: [], usage }) : '') + 'data: [DONE]\n\n'
  return { status: 200, contentType: 'text/event-stream', text }
}

async function chat (res: ServerResponse, ctx: ChatContext): Promise<void> {
  const { body, behavior, pace } = ctx
  const id = `chatcmpl-mock-${++completions}`
  const created = Math.floor(Date.now() / 1000)
  const model = body.model as string
  const turn = planTurn(body, behavior, body.max_tokens ?? body.max_completion_tokens)
  const cached = behavior.cached
  const usage = (completion: number): Record<string, unknown> => {
    const prompt = promptTokens(body)
    return {
      prompt_tokens: prompt,
      completion_tokens: completion,
      total_tokens: prompt + completion,
      ...(cached?.in === 'usage' ? { prompt_tokens_details: { cached_tokens: cached.tokens } } : {})
    }
  }
  const timings = cached?.in === 'timings' ? { timings: { cache_n: cached.tokens, prompt_n: promptTokens(body) - cached.tokens } } : {}

  if (body.stream !== true) {
    const steps = turn.kind === 'text' ? turn.tokens.length : 1
    if (!await pace(behavior.firstTokenDelayMs + behavior.tokenDelayMs * Math.max(0, steps - 1))) return
    const message = turn.kind === 'text'
      ? { role: 'assistant', content: turn.tokens.join('') }
      : {
          role: 'assistant',
          content: null,
          tool_calls: turn.calls.map((c, i) => ({ id: `call_mock_${i}`, type: 'function', function: { name: c.name, arguments: c.arguments } }))
        }
    const answer = {
      id,
      object: 'chat.completion',
      created,
      model,
      choices: [{ index: 0, message, finish_reason: turn.kind === 'text' ? turn.finish : 'tool_calls' }],
      ...(behavior.usage ? { usage: usage(steps) } : {}),
      ...timings
    }
    res.writeHead(200, { 'content-type': 'application/json' })
    res.end(JSON.stringify(answer))
    return
  }

  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' })
  const send = (value: unknown): void => { res.write(`data: ${JSON.stringify(value)}\n\n`) }
  const chunk = (delta: unknown, finish: string | null = null): unknown =>
    ({ id, object: 'chat.completion.chunk', created, model, choices: [{ index: 0, delta, finish_reason: finish }], ...(finish != null ? timings : {}) })

  if (!await pace(behavior.firstTokenDelayMs)) return
  send(chunk({ role: 'assistant', content: '' }))
  let emitted = 0
  let finish: string
  if (turn.kind === 'text') {
    for (const [i, token] of turn.tokens.entries()) {
      if (i > 0 && !await pace(behavior.tokenDelayMs)) return
      if (behavior.cutAfterTokens != null && emitted >= behavior.cutAfterTokens) {
        ctx.cut()
        return
      }
      send(chunk({ content: token }))
      emitted++
    }
    finish = turn.finish
  } else {
    // Like OpenAI: id and name first, then the arguments in pieces, calls interleaved by index.
    send(chunk({ tool_calls: turn.calls.map((c, index) => ({ index, id: `call_mock_${index}`, type: 'function', function: { name: c.name, arguments: '' } })) }))
    const pieces = turn.calls.map(c => halves(c.arguments))
    for (let part = 0; part < 2; part++) {
      for (const [index, split] of pieces.entries()) {
        const piece = split[part]
        if (piece == null) continue
        if (!await pace(behavior.tokenDelayMs)) return
        send(chunk({ tool_calls: [{ index, function: { arguments: piece } }] }))
        emitted++
      }
    }
    finish = 'tool_calls'
  }
  send(chunk({}, finish))
  if (behavior.usage && body.stream_options?.include_usage === true) {
    send({ id, object: 'chat.completion.chunk', created, model, choices: [], usage: usage(emitted) })
  }
  res.end('data: [DONE]\n\n')
}
