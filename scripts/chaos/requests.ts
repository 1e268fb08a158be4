// One chaos-test request in one of the APIs' shapes, classified by what the client saw. The
// classes are the ones the chaos issue counts: a client must always get either a whole answer
// or an error it can recognise; a stream that just stops, or nothing at all, is the bug.
import { createSyntheticBackend } from '../../src/backends/synthetic.js'

export const KINDS = ['openai-stream', 'openai-json', 'harombe-stream', 'harombe-json', 'ollama-stream'] as const
export type Kind = typeof KINDS[number]

export type Outcome =
  /** The final chunk / `[DONE]` / `done` line / whole JSON arrived, with the expected text. */
  | 'completed'
  /** An HTTP error status with an error body in the API's format, or an in-stream error event. */
  | 'cleanError'
  /** The request timeout fired before the answer was complete (before or after the first byte). */
  | 'hung'
  /** The stream ended (or the connection broke) without a final chunk and without an error event. */
  | 'truncated'
  /** An answer that claims to be complete but whose text differs from what the backend generated. */
  | 'corrupt'
  /** Anything else a client could not make sense of (unparseable body, connection refused…). */
  | 'protocolError'

export interface RequestRecord {
  kind: Kind
  /** The client peer the request entered through. */
  entry: string
  maxTokens: number
  /** ms since the run started. */
  startedAt: number
  endedAt: number
  /** First content byte (streams), ms since the run started; null if none arrived. */
  firstContentAt: number | null
  outcome: Outcome
  status: number
  /** `x-harombe-node`: which peer served (or was committed to) it. */
  node: string | null
  /** Content characters received. */
  chars: number
  /** `Retry-After` of a 429/503, in seconds: a well-behaved client waits that long before its next request. */
  retryAfterS?: number
  error?: string
}

export interface IssueInit {
  kind: Kind
  api: string
  entry: string
  maxTokens: number
  model: string
  timeoutMs: number
  /** ms since the run started (the same clock as the chaos event log). */
  clock: () => number
  /** The text the synthetic backend produces for `maxTokens` tokens. */
  expected: string
}

const MESSAGES = [{ role: 'user', content: 'chaos' }]

/** The synthetic backend is deterministic: its own output, computed once per length, is the reference. */
export async function expectedTexts (maxTokens: number[]): Promise<Map<number, string>> {
  const backend = createSyntheticBackend()
  const out = new Map<number, string>()
  for (const n of maxTokens) {
    const r = await backend.complete({ model: 'synthetic', messages: [{ role: 'user', content: 'x' }], max_tokens: n }, { signal: new AbortController().signal })
    out.set(n, r.message.content ?? '')
  }
  await backend.close()
  return out
}

function requestOf (init: IssueInit): { path: string, body: unknown, stream: boolean } {
  const stream = init.kind.endsWith('-stream')
  switch (init.kind) {
    case 'openai-stream':
    case 'openai-json':
      return { path: '/v1/chat/completions', stream, body: { model: init.model, messages: MESSAGES, max_tokens: init.maxTokens, stream, ...(stream ? { stream_options: { include_usage: true } } : {}) } }
    case 'harombe-stream':
    case 'harombe-json':
      return { path: '/api/complete', stream, body: { model: init.model, messages: MESSAGES, max_tokens: init.maxTokens, stream } }
    case 'ollama-stream':
      return { path: '/api/chat', stream, body: { model: init.model, messages: MESSAGES, stream: true, options: { num_predict: init.maxTokens } } }
  }
}

/** Sends one request and classifies it. Never throws. */
export async function issue (init: IssueInit): Promise<RequestRecord> {
  const { path, body, stream } = requestOf(init)
  const startedAt = init.clock()
  const signal = AbortSignal.timeout(init.timeoutMs)
  const rec: RequestRecord = { kind: init.kind, entry: init.entry, maxTokens: init.maxTokens, startedAt, endedAt: NaN, firstContentAt: null, outcome: 'protocolError', status: 0, node: null, chars: 0 }
  const done = (outcome: Outcome, error?: string): RequestRecord => {
    rec.endedAt = init.clock()
    rec.outcome = outcome
    if (error != null) rec.error = error.slice(0, 300)
    return rec
  }
  let res: Response
  try {
    res = await fetch(`${init.api}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal })
  } catch (err: any) {
    if (signal.aborted) return done('hung', `no response headers within ${init.timeoutMs} ms`)
    return done('protocolError', `request failed: ${causeOf(err)}`)
  }
  rec.status = res.status
  rec.node = res.headers.get('x-harombe-node')
  const retryAfter = Number(res.headers.get('retry-after') ?? NaN)
  if ((res.status === 429 || res.status === 503) && Number.isFinite(retryAfter)) rec.retryAfterS = retryAfter

  let text = ''
  const parser = stream && res.status === 200 ? streamParser(init.kind) : undefined
  try {
    const decoder = new TextDecoder()
    const reader = res.body?.getReader()
    while (reader != null) {
      const next = await reader.read()
      if (next.done) break
      const piece = decoder.decode(next.value, { stream: true })
      if (parser == null) {
        text += piece
        continue
      }
      parser.push(piece)
      if (parser.state.content.length > 0 && rec.firstContentAt == null) rec.firstContentAt = init.clock()
    }
  } catch (err: any) {
    rec.chars = parser?.state.content.length ?? 0
    if (signal.aborted) return done('hung', `answer incomplete after ${init.timeoutMs} ms (${rec.chars} chars received)`)
    // The body broke off (connection reset or destroyed). Still a clean error if an error event came first.
    if (parser?.state.error != null) return done('cleanError', parser.state.error)
    return done('truncated', `body broke off after ${rec.chars} chars: ${causeOf(err)}`)
  }

  if (res.status !== 200) {
    const message = errorMessageOf(text)
    return message != null ? done('cleanError', `HTTP ${res.status}: ${message}`) : done('protocolError', `HTTP ${res.status} without an error body: ${text.slice(0, 120)}`)
  }
  if (parser == null) {
    let answer: any
    try {
      answer = JSON.parse(text)
    } catch {
      return done('truncated', `HTTP 200 with an incomplete JSON body (${text.length} bytes)`)
    }
    const content = init.kind === 'openai-json' ? answer?.choices?.[0]?.message?.content : answer?.message?.content
    rec.chars = typeof content === 'string' ? content.length : 0
    rec.firstContentAt = init.clock()
    return content === init.expected ? done('completed') : done('corrupt', `content differs: got ${JSON.stringify(String(content)).slice(0, 80)}`)
  }
  parser.end()
  const s = parser.state
  rec.chars = s.content.length
  if (s.error != null) return done('cleanError', s.error)
  if (!s.final) return done('truncated', `stream ended without a final chunk or an error after ${s.content.length} chars`)
  if (s.malformed > 0) return done('protocolError', `${s.malformed} malformed event(s)`)
  return s.content === init.expected ? done('completed') : done('corrupt', `content differs: ${s.content.length} chars, expected ${init.expected.length}`)
}

interface StreamState {
  content: string
  /** The API's end marker arrived: `[DONE]` after a finish_reason (OpenAI), a `done` line (harombe, Ollama). */
  final: boolean
  error?: string
  malformed: number
}

/** Incremental parser for the three streaming formats: SSE (OpenAI) and NDJSON (harombe, Ollama). */
function streamParser (kind: Kind): { state: StreamState, push: (text: string) => void, end: () => void } {
  const state: StreamState = { content: '', final: false, malformed: 0 }
  let buffer = ''
  let finishReason = false
  const sse = kind === 'openai-stream'
  const onRecord = (raw: string): void => {
    let data = raw
    if (sse) {
      if (!raw.startsWith('data: ')) return
      data = raw.slice(6)
      if (data === '[DONE]') {
        state.final = finishReason
        return
      }
    } else if (data.trim() === '') {
      return
    }
    let obj: any
    try {
      obj = JSON.parse(data)
    } catch {
      state.malformed++
      return
    }
    // An event after the end marker or after an error is itself a protocol violation.
    if (state.final || state.error != null) state.malformed++
    if (obj?.error != null) {
      state.error = `in-stream error: ${typeof obj.error === 'string' ? obj.error : obj.error.message ?? JSON.stringify(obj.error)}`
      return
    }
    if (sse) {
      const choice = obj?.choices?.[0]
      if (typeof choice?.delta?.content === 'string') state.content += choice.delta.content
      if (choice?.finish_reason != null) finishReason = true
    } else if (kind === 'harombe-stream') {
      if (obj?.type === 'delta') state.content += obj.content ?? ''
      else if (obj?.type === 'done') state.final = true
      else state.malformed++
    } else {
      if (obj?.done === true) state.final = true
      else if (typeof obj?.message?.content === 'string') state.content += obj.message.content
      else state.malformed++
    }
  }
  const separator = sse ? '\n\n' : '\n'
  return {
    state,
    push (text) {
      buffer += text
      let at: number
      while ((at = buffer.indexOf(separator)) >= 0) {
        onRecord(buffer.slice(0, at))
        buffer = buffer.slice(at + separator.length)
      }
    },
    end () {
      // A record without its terminator is a cut record, not a complete one.
      if (buffer.trim() !== '') state.malformed++
    }
  }
}

/** The message of an error body in any of the three APIs' formats, or null if it is not one. */
export function errorMessageOf (text: string): string | null {
  try {
    const body = JSON.parse(text)
    if (typeof body?.error === 'string') return body.error
    if (typeof body?.error?.message === 'string') return body.error.message
  } catch {}
  return null
}

/** An error's message with its cause's code or message, for a failure line. */
export function causeOf (err: any): string {
  const cause = err?.cause?.code ?? err?.cause?.message
  return `${err?.message ?? String(err)}${cause != null ? ` (${String(cause)})` : ''}`
}
