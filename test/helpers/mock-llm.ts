// What the OpenAI and Ollama mock servers share: behaviour knobs, request and abort records,
// pacing that stops when the client leaves, and the choice of what to answer.
// Mocks of the *upstream* LLM server only; everything above it under test is real.
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

export interface MockToolCall {
  /** Default: the first tool in the request. */
  name?: string
  /** JSON text, as an OpenAI server sends it; the Ollama mock sends it parsed. */
  arguments: string
}

export interface MockBehavior {
  /** Listed by models/tags; a chat for another model answers 404. */
  models: string[]
  /** Content pieces of an answer, one per chunk. */
  tokens: string[]
  /** Wait before the first token (or before the whole non-streamed answer). */
  firstTokenDelayMs: number
  /** Wait between tokens (a non-streamed answer waits for all of them too). */
  tokenDelayMs: number
  /** Answer chat requests with this status and an error body in the API's format. */
  failStatus?: number
  failMessage?: string
  /** Also fail models/tags/version (health checks), not only chat. */
  failAll: boolean
  /** Destroy the connection after this many streamed tokens, without a finish chunk. */
  cutAfterTokens?: number
  /** Report token counts (OpenAI: only when the client asked with stream_options.include_usage). */
  usage: boolean
  /** Calls made when the request has tools and its last message is from the user. Default: the first tool with `{}`. */
  toolCalls?: MockToolCall[]
  /** The final answer after a `tool` message, from that message's content. */
  answerTool: (toolContent: string) => string[]
  /** Require `Authorization: Bearer <apiKey>` (401 otherwise). */
  apiKey?: string
  /**
   * Continuing a trailing assistant message, return that message's text again at the start (its
   * first chunk holds the prefix plus the first token), as llama.cpp's llama-server does.
   */
  echoPrefix?: boolean
  /** Ollama: the `digest` /api/tags reports per model (default `mock`, which is not a sha256). */
  digests?: Record<string, string>
  /**
   * OpenAI: prompt tokens reported as served from a prompt cache, where llama-server reports them:
   * `usage.prompt_tokens_details.cached_tokens` (also OpenAI's and vLLM's field) or its own
   * `timings.cache_n` (on the last chunk, or beside `usage` in a whole answer). Absent: neither.
   */
  cached?: { tokens: number, in: 'usage' | 'timings' }
  /** Embeddings: refuse them as llama-server without `--embeddings` does (501). Default: answer them. */
  embedRefuse?: boolean
  /** Embeddings: wait this long before answering (a client leaving meanwhile is recorded in `aborts`). */
  embedDelayMs?: number
  /** The context length the server reports (Ollama /api/show and /api/ps, OpenAI /models `meta.n_ctx_train`). */
  contextLength?: number
}

export const DEFAULT_BEHAVIOR: MockBehavior = {
  models: ['mock-model'],
  tokens: ['Hello', ',', ' world', '!'],
  firstTokenDelayMs: 0,
  tokenDelayMs: 0,
  failAll: false,
  usage: true,
  answerTool: content => ['The tool said: ', content]
}

export interface RecordedRequest {
  method: string
  /** Path with query, e.g. `/v1/chat/completions`. */
  path: string
  headers: IncomingHttpHeaders
  /** Parsed JSON body, or undefined for GET. */
  body: any
  /** Date.now() when the request arrived. */
  at: number
}

export interface AbortRecord {
  /** Date.now() when the server saw the client close the connection before the answer ended. */
  at: number
  path: string
}

export interface MockServer {
  /** Base URL as a client takes it: `http://127.0.0.1:<port>/v1` (OpenAI) or `http://127.0.0.1:<port>` (Ollama). */
  readonly url: string
  readonly port: number
  /** Every request in arrival order. */
  readonly requests: RecordedRequest[]
  /** Every answer the client abandoned before its end, in order. */
  readonly aborts: AbortRecord[]
  /** Chat answers being generated right now. */
  readonly active: number
  /** Chat requests only, in order. */
  chatRequests: () => RecordedRequest[]
  /** Merges into the current behaviour; applies to requests that arrive afterwards. */
  setBehavior: (patch: Partial<MockBehavior>) => void
  behavior: () => Readonly<MockBehavior>
  /** Resolves with the n-th abort (1-based) once it happened; rejects after timeoutMs. */
  waitForAbort: (n?: number, timeoutMs?: number) => Promise<AbortRecord>
  /** Resolves with the n-th request (1-based) once it arrived; rejects after timeoutMs. */
  waitForRequest: (n?: number, timeoutMs?: number) => Promise<RecordedRequest>
  /** Clears records and restores the behaviour given at start. */
  reset: () => void
  /** Closes the server and every open connection. */
  close: () => Promise<void>
}

export interface MockStartOptions {
  /** Behaviour at start (and after reset). */
  behavior?: Partial<MockBehavior>
  /** Default 0: any free port. Give a fixed one to restart a mock where a peer expects it. */
  port?: number
}

/** What one chat request asks the mock to do. */
export type Turn =
  | { kind: 'text', tokens: string[], finish: 'stop' | 'length' }
  | { kind: 'tools', calls: Array<{ name: string, arguments: string }> }

/** Per-request helpers for a flavour's chat handler. */
export interface ChatContext {
  behavior: MockBehavior
  body: any
  /** Waits ms; false when the client has gone (stop generating, like a real server). */
  pace: (ms: number) => Promise<boolean>
  /** Destroys the connection on purpose (not recorded as a client abort). */
  cut: () => void
}

export interface Flavor {
  prefix: string
  chatPath: string
  /** The API's error body. */
  errorBody: (status: number, message: string) => unknown
  /** Answers GET routes (models, tags, version); undefined when the path is unknown. */
  get: (path: string, behavior: MockBehavior) => unknown
  /** Writes a chat answer. */
  chat: (res: ServerResponse, ctx: ChatContext) => Promise<void>
  /** The model a chat body asks for. */
  model: (body: any) => unknown
  /** Answers other POST routes (embeddings); undefined when the path is unknown. */
  post?: (path: string, body: any, behavior: MockBehavior) => MockPostAnswer | undefined
}

/** A POST answer other than chat: JSON, or (with `contentType`) a body written as it is (SSE, NDJSON). */
export type MockPostAnswer = { status: number, body: unknown } | { status: number, contentType: string, text: string }

/** Dimensions of the mocks' embeddings. */
export const MOCK_EMBED_DIMS = 8

/** The mocks' embedding of `text`: deterministic, so a test can compute what a peer must return. */
export function mockEmbedding (text: string): number[] {
  const out: number[] = []
  for (let i = 0; i < MOCK_EMBED_DIMS; i++) {
    let h = 2166136261 ^ i
    for (let j = 0; j < text.length; j++) h = Math.imul(h ^ text.charCodeAt(j), 16777619)
    // Exactly representable as float32, so a round trip through the mesh's binary floats is lossless.
    out.push(((h >>> 0) % 2001 - 1000) / 1024)
  }
  return out
}

/** Which answer a chat body gets: tool calls, a final answer to a tool result, or the tokens. */
export function planTurn (body: any, behavior: MockBehavior, maxTokens: number | undefined): Turn {
  const messages: any[] = Array.isArray(body?.messages) ? body.messages : []
  const last = messages[messages.length - 1]
  const tools: any[] = Array.isArray(body?.tools) ? body.tools : []
  if (tools.length > 0 && last?.role === 'user') {
    const first = tools[0]?.function?.name ?? 'tool'
    const calls = (behavior.toolCalls ?? [{ arguments: '{}' }]).map(c => ({ name: c.name ?? first, arguments: c.arguments }))
    return { kind: 'tools', calls }
  }
  let tokens = last?.role === 'tool' ? behavior.answerTool(String(last.content ?? '')) : behavior.tokens
  if (last?.role === 'assistant' && behavior.echoPrefix === true && tokens.length > 0) {
    tokens = [String(last.content ?? '') + (tokens[0] ?? ''), ...tokens.slice(1)]
  }
  if (maxTokens != null && maxTokens < tokens.length) return { kind: 'text', tokens: tokens.slice(0, maxTokens), finish: 'length' }
  return { kind: 'text', tokens, finish: 'stop' }
}

/** A deterministic prompt size: whitespace-separated words in every message. */
export function promptTokens (body: any): number {
  const messages: any[] = Array.isArray(body?.messages) ? body.messages : []
  return messages.reduce((n, m) => n + String(m?.content ?? '').split(/\s+/).filter(Boolean).length, 0)
}

export async function startMock (flavor: Flavor, options: MockStartOptions = {}): Promise<MockServer> {
  const initial: MockBehavior = { ...DEFAULT_BEHAVIOR, ...options.behavior }
  let behavior: MockBehavior = { ...initial }
  const requests: RecordedRequest[] = []
  const aborts: AbortRecord[] = []
  let active = 0
  const waiters = new Set<() => void>()
  const notify = (): void => { for (const w of [...waiters]) w() }

  const waitFor = async <T>(pick: () => T | undefined, timeoutMs: number, what: string): Promise<T> => {
    const now = pick()
    if (now !== undefined) return now
    return await new Promise<T>((resolve, reject) => {
      const check = (): void => {
        const value = pick()
        if (value === undefined) return
        clearTimeout(timer)
        waiters.delete(check)
        resolve(value)
      }
      const timer = setTimeout(() => {
        waiters.delete(check)
        reject(new Error(`mock: timed out after ${timeoutMs} ms waiting for ${what}`))
      }, timeoutMs)
      waiters.add(check)
    })
  }

  const sendJson = (res: ServerResponse, status: number, value: unknown): void => {
    const text = JSON.stringify(value)
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) })
    res.end(text)
  }

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const at = Date.now()
    const path = req.url ?? '/'
    const raw = await readBody(req)
    let body: any
    if (raw !== '') {
      try {
        body = JSON.parse(raw)
      } catch {
        requests.push({ method: req.method ?? 'GET', path, headers: req.headers, body: raw, at })
        notify()
        sendJson(res, 400, flavor.errorBody(400, 'body is not JSON'))
        return
      }
    }
    const b = behavior
    requests.push({ method: req.method ?? 'GET', path, headers: req.headers, body, at })
    notify()

    if (b.apiKey != null && req.headers.authorization !== `Bearer ${b.apiKey}`) {
      sendJson(res, 401, flavor.errorBody(401, 'invalid api key'))
      return
    }
    const isChat = req.method === 'POST' && path === flavor.prefix + flavor.chatPath
    if (b.failStatus != null && (isChat || b.failAll)) {
      sendJson(res, b.failStatus, flavor.errorBody(b.failStatus, b.failMessage ?? `mock failure ${b.failStatus}`))
      return
    }
    if (req.method === 'GET' && path.startsWith(flavor.prefix)) {
      const answer = flavor.get(path.slice(flavor.prefix.length), b)
      if (answer !== undefined) {
        sendJson(res, 200, answer)
        return
      }
    }
    if (req.method === 'POST' && !isChat && path.startsWith(flavor.prefix)) {
      const answer = flavor.post?.(path.slice(flavor.prefix.length), body, b)
      if (answer !== undefined && (b.embedDelayMs ?? 0) > 0) {
        const left = await new Promise<boolean>(resolve => {
          const timer = setTimeout(() => { res.off('close', onClose); resolve(false) }, b.embedDelayMs)
          const onClose = (): void => { clearTimeout(timer); resolve(true) }
          res.once('close', onClose)
        })
        if (left) {
          aborts.push({ at: Date.now(), path })
          notify()
          return
        }
      }
      if (answer !== undefined) {
        if ('contentType' in answer) {
          res.writeHead(answer.status, { 'content-type': answer.contentType })
          res.end(answer.text)
        } else {
          sendJson(res, answer.status, answer.body)
        }
        return
      }
    }
    if (!isChat) {
      sendJson(res, 404, flavor.errorBody(404, `no route ${req.method ?? ''} ${path}`))
      return
    }
    const model = flavor.model(body)
    if (typeof model !== 'string' || !b.models.includes(model)) {
      sendJson(res, 404, flavor.errorBody(404, `model '${String(model)}' not found`))
      return
    }

    // The client leaving before the answer ended is what tests assert on; a cut by the mock is not.
    const gone = new AbortController()
    let cutByMock = false
    active++
    res.on('close', () => {
      active--
      if (!res.writableEnded && !cutByMock) aborts.push({ at: Date.now(), path })
      gone.abort()
      notify()
    })
    const pace = async (ms: number): Promise<boolean> => {
      if (gone.signal.aborted) return false
      if (ms > 0) {
        await new Promise<void>(resolve => {
          const timer = setTimeout(done, ms)
          gone.signal.addEventListener('abort', done, { once: true })
          function done (): void {
            clearTimeout(timer)
            gone.signal.removeEventListener('abort', done)
            resolve()
          }
        })
      }
      return !gone.signal.aborted
    }
    const cut = (): void => {
      cutByMock = true
      // Ending the socket (not destroying it) sends what was written first, then breaks the
      // chunked body: the client gets the tokens so far and then a truncated stream.
      if (res.socket != null) res.socket.end()
      else res.destroy()
    }
    await flavor.chat(res, { behavior: b, body, pace, cut })
  }

  const server = createServer((req, res) => {
    handle(req, res).catch(err => {
      if (!res.headersSent) sendJson(res, 500, flavor.errorBody(500, String(err?.message ?? err)))
      else res.destroy()
    })
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port ?? 0, '127.0.0.1', () => { server.off('error', reject); resolve() })
  })
  const port = (server.address() as AddressInfo).port

  return {
    url: `http://127.0.0.1:${port}${flavor.prefix}`,
    port,
    requests,
    aborts,
    get active () { return active },
    chatRequests: () => requests.filter(r => r.method === 'POST' && r.path === flavor.prefix + flavor.chatPath),
    setBehavior (patch) { behavior = { ...behavior, ...patch } },
    behavior: () => behavior,
    waitForAbort: async (n = 1, timeoutMs = 2_000) => await waitFor(() => aborts[n - 1], timeoutMs, `abort #${n}`),
    waitForRequest: async (n = 1, timeoutMs = 2_000) => await waitFor(() => requests[n - 1], timeoutMs, `request #${n}`),
    reset () {
      requests.length = 0
      aborts.length = 0
      behavior = { ...initial }
    },
    async close () {
      await new Promise<void>(resolve => {
        server.close(() => { resolve() })
        // Keep-alive and still-streaming connections would hold close() open.
        server.closeAllConnections()
      })
    }
  }
}

async function readBody (req: IncomingMessage): Promise<string> {
  const parts: Buffer[] = []
  for await (const part of req) parts.push(part as Buffer)
  return Buffer.concat(parts).toString('utf8')
}

/** Splits a string in two non-empty halves (when it can), so clients must concatenate pieces. */
export function halves (text: string): string[] {
  if (text.length < 2) return [text]
  const middle = Math.floor(text.length / 2)
  return [text.slice(0, middle), text.slice(middle)]
}
