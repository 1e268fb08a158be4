// A small Ollama upstream for tests: GET /api/tags, GET /api/version, POST /api/chat (NDJSON
// by default, JSON with `stream: false`, tool calls with object arguments, eval counts),
// configurable timing and failures, with every request and every client abort recorded.
// See mock-llm.ts for the knobs.
import type { ServerResponse } from 'node:http'
import { mockEmbedding, planTurn, promptTokens, startMock, type ChatContext, type MockBehavior, type MockPostAnswer, type MockServer, type MockStartOptions } from './mock-llm.js'

export type { MockBehavior, MockServer, MockStartOptions, RecordedRequest, AbortRecord, MockToolCall } from './mock-llm.js'

/** What GET /api/version reports. */
export const MOCK_OLLAMA_VERSION = '0.12.0'

/** Starts the mock on 127.0.0.1 (port 0 unless given). Its `url` has no path, as Ollama clients take it. */
export async function startMockOllamaServer (options: MockStartOptions = {}): Promise<MockServer> {
  return await startMock({
    prefix: '',
    chatPath: '/api/chat',
    model: body => body?.model,
    errorBody: (_status, message) => ({ error: message }),
    get (path, behavior) {
      if (path === '/api/version') return { version: MOCK_OLLAMA_VERSION }
      if (path === '/api/ps') {
        return { models: behavior.models.map(name => ({ name, model: name, size: 1234, digest: behavior.digests?.[name] ?? 'mock', details: { format: 'gguf', family: 'mock', parameter_size: '1M', quantization_level: 'Q4_0' }, expires_at: '2030-01-01T00:00:00Z', size_vram: 0, context_length: behavior.contextLength ?? 4096 })) }
      }
      if (path !== '/api/tags') return undefined
      return {
        models: behavior.models.map(name => ({
          name,
          model: name,
          modified_at: new Date(0).toISOString(),
          size: 1,
          digest: behavior.digests?.[name] ?? 'mock',
          details: { format: 'gguf', family: 'mock', parameter_size: '1M', quantization_level: 'Q4_0' }
        }))
      }
    },
    chat,
    post (path, body, behavior) {
      if (path === '/api/generate') return generate(body, behavior)
      if (path === '/api/show') {
        if (!behavior.models.includes(body?.model)) return { status: 404, body: { error: `model '${String(body?.model)}' not found` } }
        return {
          status: 200,
          body: {
            modelfile: '# mock', parameters: 'stop "<|end|>"', template: '{{ .Prompt }}',
            details: { parent_model: '', format: 'gguf', family: 'mock', families: ['mock'], parameter_size: '1M', quantization_level: 'Q4_0' },
            model_info: { 'general.architecture': 'mock', 'general.parameter_count': 1_000_000, 'mock.context_length': behavior.contextLength ?? 4096, 'mock.embedding_length': 8 },
            capabilities: ['completion', 'embedding']
          }
        }
      }
      if (path !== '/api/embed') return undefined
      if (behavior.embedRefuse === true) return { status: 400, body: { error: `"${String(body?.model)}" does not support embeddings` } }
      if (!behavior.models.includes(body?.model)) return { status: 404, body: { error: `model "${String(body?.model)}" not found, try pulling it first` } }
      const inputs: string[] = Array.isArray(body.input) ? body.input : [body.input]
      const tokens = inputs.reduce((n, input) => n + input.split(/\s+/).length, 0)
      return { status: 200, body: { model: body.model, embeddings: inputs.map(mockEmbedding), total_duration: 1, load_duration: 0, prompt_eval_count: tokens } }
    }
  }, options)
}

/** `/api/generate` (the raw path a peer uses for /v1/completions): the behaviour's tokens, NDJSON unless `stream: false`. */
function generate (body: any, behavior: MockBehavior): MockPostAnswer {
  if (!behavior.models.includes(body?.model)) return { status: 404, body: { error: `model "${String(body?.model)}" not found, try pulling it first` } }
  const now = new Date().toISOString()
  const tokens = behavior.tokens.slice(0, body.options?.num_predict ?? behavior.tokens.length)
  const doneReason = tokens.length < behavior.tokens.length ? 'length' : 'stop'
  const counts = { prompt_eval_count: String(body.prompt).split(/\s+/).length, eval_count: tokens.length }
  if (body.stream === false) return { status: 200, body: { model: body.model, created_at: now, response: tokens.join(''), done: true, done_reason: doneReason, ...counts } }
  const lines = tokens.map(t => JSON.stringify({ model: body.model, created_at: now, response: t, done: false }))
  lines.push(JSON.stringify({ model: body.model, created_at: now, response: '', done: true, done_reason: doneReason, ...counts }))
  return { status: 200, contentType: 'application/x-ndjson', text: lines.join('\n') + '\n' }
}

async function chat (res: ServerResponse, ctx: ChatContext): Promise<void> {
  const { body, behavior, pace } = ctx
  const model = body.model as string
  const turn = planTurn(body, behavior, body.options?.num_predict)
  const now = (): string => new Date().toISOString()
  const counts = (evals: number): Record<string, number> =>
    behavior.usage ? { prompt_eval_count: promptTokens(body), eval_count: evals } : {}
  // Ollama's tool calls carry arguments as an object and (in older versions) no id.
  const toolCalls = turn.kind === 'tools'
    ? turn.calls.map((c, index) => ({ function: { index, name: c.name, arguments: JSON.parse(c.arguments === '' ? '{}' : c.arguments) } }))
    : []
  const doneReason = turn.kind === 'text' ? turn.finish : 'stop'

  // Ollama streams unless told `stream: false`.
  if (body.stream === false) {
    const steps = turn.kind === 'text' ? turn.tokens.length : 1
    if (!await pace(behavior.firstTokenDelayMs + behavior.tokenDelayMs * Math.max(0, steps - 1))) return
    const message = turn.kind === 'text'
      ? { role: 'assistant', content: turn.tokens.join('') }
      : { role: 'assistant', content: '', tool_calls: toolCalls }
    res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' })
    res.end(JSON.stringify({ model, created_at: now(), message, done: true, done_reason: doneReason, total_duration: 1, ...counts(steps) }))
    return
  }

  res.writeHead(200, { 'content-type': 'application/x-ndjson' })
  const send = (value: unknown): void => { res.write(JSON.stringify(value) + '\n') }
  if (!await pace(behavior.firstTokenDelayMs)) return
  let emitted = 0
  if (turn.kind === 'text') {
    for (const [i, token] of turn.tokens.entries()) {
      if (i > 0 && !await pace(behavior.tokenDelayMs)) return
      if (behavior.cutAfterTokens != null && emitted >= behavior.cutAfterTokens) {
        ctx.cut()
        return
      }
      send({ model, created_at: now(), message: { role: 'assistant', content: token }, done: false })
      emitted++
    }
  } else {
    send({ model, created_at: now(), message: { role: 'assistant', content: '', tool_calls: toolCalls }, done: false })
    emitted++
  }
  res.end(JSON.stringify({ model, created_at: now(), message: { role: 'assistant', content: '' }, done: true, done_reason: doneReason, total_duration: 1, ...counts(emitted) }) + '\n')
}
