// The "direct" baseline: the synthetic backend behind a minimal OpenAI-compatible HTTP server
// (GET /v1/models, POST /v1/chat/completions, SSE when stream is true), as llama-server or vLLM
// would serve a model. One SSE event per token, like those servers.
//
// Run alone: tsx scripts/bench/synthetic-server.ts [--tps N] [--ttft MS] [--port P] [--model NAME…]
// prints `synthetic-server ready url=http://127.0.0.1:<port>/v1`.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import { createSyntheticBackend, type SyntheticBackendInit } from '../../src/backends/synthetic.js'
import type { BackendRequest, ChatMessage } from '../../src/completion/types.js'

export interface SyntheticServer {
  /** Base URL as the OpenAI SDK takes it, ending in `/v1`. */
  url: string
  server: Server
  close: () => Promise<void>
}

/** Bodies of benchmark requests are tiny; anything bigger is a mistake, not a workload. */
const MAX_BODY_BYTES = 1024 * 1024

export async function startSyntheticServer (init: SyntheticBackendInit & { port?: number } = {}): Promise<SyntheticServer> {
  const backend = createSyntheticBackend(init)
  const models = await backend.models()

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (req.method === 'GET' && req.url === '/v1/models') {
      json(res, 200, { object: 'list', data: models.map(id => ({ id, object: 'model', created: 0, owned_by: 'synthetic' })) })
      return
    }
    if (req.method !== 'POST' || req.url !== '/v1/chat/completions') {
      json(res, 404, { error: { message: `no route ${req.method ?? ''} ${req.url ?? ''}`, type: 'invalid_request_error' } })
      return
    }
    const body = await readJson(req)
    const model = typeof body?.model === 'string' && body.model !== 'auto' ? body.model : models[0] ?? 'synthetic'
    const request = backendRequestOf(body, model)
    const id = `chatcmpl-synthetic-${Date.now()}`
    const created = Math.floor(Date.now() / 1000)
    const controller = new AbortController()
    res.on('close', () => { if (!res.writableFinished) controller.abort() })

    const call = toolCallFor(body)
    if (call != null) {
      // A tool call answer, whole or as one delta: enough for a client to run the tool and come back.
      if (body?.stream !== true) {
        json(res, 200, { id, object: 'chat.completion', created, model, choices: [{ index: 0, message: { role: 'assistant', content: null, tool_calls: [call] }, finish_reason: 'tool_calls', logprobs: null }], usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 } })
        return
      }
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' })
      const chunk = (choices: unknown[], extra: Record<string, unknown> = {}): string =>
        `data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model, choices, ...extra })}\n\n`
      res.end(chunk([{ index: 0, delta: { role: 'assistant', content: null, tool_calls: [{ index: 0, ...call }] }, finish_reason: null }]) +
        chunk([{ index: 0, delta: {}, finish_reason: 'tool_calls' }]) +
        (body?.stream_options?.include_usage === true ? chunk([], { usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 } }) : '') +
        'data: [DONE]\n\n')
      return
    }

    if (body?.stream !== true) {
      const result = await backend.complete(request, { signal: controller.signal })
      json(res, 200, {
        id,
        object: 'chat.completion',
        created,
        model,
        choices: [{ index: 0, message: result.message, finish_reason: result.finish_reason, logprobs: null }],
        usage: { ...result.usage, total_tokens: result.usage.prompt_tokens + result.usage.completion_tokens }
      })
      return
    }
    const chunk = (choices: unknown[], extra: Record<string, unknown> = {}): string =>
      `data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model, choices, ...extra })}\n\n`
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' })
    res.write(chunk([{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }]))
    const result = await backend.complete(request, {
      signal: controller.signal,
      onDelta: d => { res.write(chunk([{ index: 0, delta: { content: d.content }, finish_reason: null }])) }
    })
    let tail = chunk([{ index: 0, delta: {}, finish_reason: result.finish_reason }])
    if (body?.stream_options?.include_usage === true) {
      tail += chunk([], { usage: { ...result.usage, total_tokens: result.usage.prompt_tokens + result.usage.completion_tokens } })
    }
    res.end(tail + 'data: [DONE]\n\n')
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err: Error) => {
      if (res.headersSent) res.destroy(err)
      else json(res, err.name === 'SyntaxError' ? 400 : 500, { error: { message: err.message, type: 'server_error' } })
    })
  })
  // Same keep-alive horizon as the peer's API, so neither side closes idle benchmark sockets.
  server.keepAliveTimeout = 65_000
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(init.port ?? 0, '127.0.0.1', () => { resolve() })
  })
  const port = (server.address() as AddressInfo).port
  return {
    url: `http://127.0.0.1:${port}/v1`,
    server,
    close: async () => {
      server.closeAllConnections()
      await new Promise<void>(resolve => server.close(() => { resolve() }))
      await backend.close()
    }
  }
}

/**
 * The backend request of a body. A trailing assistant message with `continue_final_message` is a
 * handover (backends/openai.ts sends it so): the synthetic backend continues from that prefix, so
 * prefix + continuation is the text an unbroken run gives, as llama-server or vLLM would.
 */
function backendRequestOf (body: any, model: string): BackendRequest {
  let messages = (body?.messages ?? []) as ChatMessage[]
  const last = messages[messages.length - 1]
  let continuation: { prefix: string } | undefined
  if (body?.continue_final_message === true && last?.role === 'assistant') {
    continuation = { prefix: last.content ?? '' }
    messages = messages.slice(0, -1)
  }
  return { model, messages, ...(typeof body?.max_tokens === 'number' ? { max_tokens: body.max_tokens } : {}), ...(continuation != null ? { continuation } : {}) }
}

/**
 * With tools offered and the conversation ending on the user's turn, the synthetic model calls the
 * first tool (arguments `{"n":<turns so far>}`); after the tool's answer it replies with text.
 */
function toolCallFor (body: any): { id: string, type: 'function', function: { name: string, arguments: string } } | undefined {
  const tools = Array.isArray(body?.tools) ? body.tools : []
  const messages = Array.isArray(body?.messages) ? body.messages : []
  const name = tools[0]?.function?.name
  if (typeof name !== 'string' || messages[messages.length - 1]?.role !== 'user') return undefined
  return { id: `call_${messages.length}`, type: 'function', function: { name, arguments: JSON.stringify({ n: messages.length }) } }
}

function json (res: ServerResponse, status: number, value: unknown): void {
  const text = JSON.stringify(value)
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) })
  res.end(text)
}

async function readJson (req: IncomingMessage): Promise<any> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req) {
    size += (chunk as Buffer).length
    if (size > MAX_BODY_BYTES) throw new Error('request body too large')
    chunks.push(chunk as Buffer)
  }
  return JSON.parse(Buffer.concat(chunks).toString('utf8'))
}

if (process.argv[1] != null && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values } = parseArgs({ options: { tps: { type: 'string' }, ttft: { type: 'string' }, port: { type: 'string' }, model: { type: 'string', multiple: true } } })
  const server = await startSyntheticServer({
    ...(values.model != null ? { models: values.model } : {}),
    tokensPerSecond: Number(values.tps ?? 0),
    firstTokenMs: Number(values.ttft ?? 0),
    port: Number(values.port ?? 0)
  })
  process.on('SIGTERM', () => { void server.close().then(() => process.exit(0)) })
  process.stdout.write(`synthetic-server ready url=${server.url}\n`)
}
