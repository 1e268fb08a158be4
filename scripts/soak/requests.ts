// The soak's request kinds: the chaos test's five (OpenAI, /api/complete and Ollama, streamed and
// whole, each answer checked against the synthetic model's text) plus two of its own: a stream the
// client cancels after the first bytes, and a two-turn tool call. Never throws: every request
// ends as one outcome.
import { causeOf, errorMessageOf, issue, KINDS as CHAOS_KINDS, type Kind as ChaosKind, type Outcome as ChaosOutcome } from '../chaos/requests.js'

export const KINDS = [...CHAOS_KINDS, 'ollama-json', 'cancel-openai', 'cancel-harombe', 'cancel-ollama', 'tools-json', 'tools-stream'] as const
export type Kind = typeof KINDS[number]

/** How often each kind is drawn: the plain answers twice as often as a cancel or a tool round trip. */
export const MIX: ReadonlyArray<{ kind: Kind, weight: number }> = KINDS.map(kind => ({ kind, weight: (CHAOS_KINDS as readonly string[]).includes(kind) || kind === 'ollama-json' ? 2 : 1 }))

/** The kind a uniform draw `u` in [0, 1) picks from the mix. */
export function pickKind (u: number, mix: ReadonlyArray<{ kind: Kind, weight: number }> = MIX): Kind {
  const total = mix.reduce((s, m) => s + m.weight, 0)
  let x = u * total
  for (const m of mix) {
    if (x < m.weight) return m.kind
    x -= m.weight
  }
  return (mix[mix.length - 1] as { kind: Kind }).kind
}

/** The chaos outcomes, plus `cancelled`: the client left mid-stream on purpose (not a failure). */
export type Outcome = ChaosOutcome | 'cancelled'

export interface SoakRecord {
  kind: Kind
  entry: string
  /** ms since the run started. */
  startedAt: number
  endedAt: number
  outcome: Outcome
  status: number
  /** `x-harombe-node`: the peer that served (or was committed to) it. */
  node: string | null
  retryAfterS?: number
  error?: string
}

export interface SoakIssueInit {
  kind: Kind
  api: string
  entry: string
  maxTokens: number
  model: string
  timeoutMs: number
  clock: () => number
  /** The synthetic model's text for `maxTokens` tokens. */
  expected: string
}

const TOOLS = [{ type: 'function', function: { name: 'lookup', description: 'look a number up', parameters: { type: 'object', properties: { n: { type: 'number' } }, required: ['n'] } } }]

export async function issueSoak (init: SoakIssueInit): Promise<SoakRecord> {
  if ((CHAOS_KINDS as readonly string[]).includes(init.kind)) {
    const r = await issue({ ...init, kind: init.kind as ChaosKind })
    return { kind: init.kind, entry: init.entry, startedAt: r.startedAt, endedAt: r.endedAt, outcome: r.outcome, status: r.status, node: r.node, ...(r.retryAfterS != null ? { retryAfterS: r.retryAfterS } : {}), ...(r.error != null ? { error: r.error } : {}) }
  }
  if (init.kind.startsWith('cancel-')) return await cancelled(init)
  if (init.kind === 'ollama-json') return await ollamaWhole(init)
  return await toolCall(init)
}

/** Ollama's /api/chat with `stream: false`: one JSON object, `done: true`, the whole text (the chaos kinds stream it only). */
async function ollamaWhole (init: SoakIssueInit): Promise<SoakRecord> {
  const startedAt = init.clock()
  const sent = await post(`${init.api}/api/chat`, { model: init.model, messages: [{ role: 'user', content: 'soak' }], stream: false, options: { num_predict: init.maxTokens } }, AbortSignal.timeout(init.timeoutMs))
  const rec: SoakRecord = { kind: init.kind, entry: init.entry, startedAt, endedAt: init.clock(), outcome: 'completed', status: sent.status, node: sent.node, ...(sent.retryAfterS != null ? { retryAfterS: sent.retryAfterS } : {}) }
  const fail = (outcome: Outcome, error: string): SoakRecord => ({ ...rec, outcome, error: error.slice(0, 300) })
  if (sent.error != null) return fail(sent.error.outcome, sent.error.message)
  let answer: any
  try {
    answer = JSON.parse(sent.text ?? '')
  } catch {
    return fail('truncated', `HTTP 200 with an incomplete JSON body (${(sent.text ?? '').length} bytes)`)
  }
  if (answer?.done !== true) return fail('protocolError', 'answer without done: true')
  const content = answer?.message?.content
  return content === init.expected ? rec : fail('corrupt', `content differs: got ${JSON.stringify(String(content)).slice(0, 80)}`)
}

interface Sent { status: number, node: string | null, retryAfterS?: number, text?: string, error?: { outcome: ChaosOutcome, message: string } }

/** POSTs JSON and reads the whole body; failures become outcomes. */
async function post (url: string, body: unknown, signal: AbortSignal): Promise<Sent> {
  let res: Response
  try {
    res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal })
  } catch (err: any) {
    return { status: 0, node: null, error: signal.aborted ? { outcome: 'hung', message: 'no response headers in time' } : { outcome: 'protocolError', message: `request failed: ${causeOf(err)}` } }
  }
  const out: Sent = { status: res.status, node: res.headers.get('x-harombe-node') }
  const retryAfter = Number(res.headers.get('retry-after') ?? NaN)
  if ((res.status === 429 || res.status === 503) && Number.isFinite(retryAfter)) out.retryAfterS = retryAfter
  try {
    out.text = await res.text()
  } catch (err: any) {
    out.error = signal.aborted ? { outcome: 'hung', message: 'answer incomplete in time' } : { outcome: 'truncated', message: `body broke off: ${causeOf(err)}` }
    return out
  }
  if (res.status !== 200) {
    const message = errorMessageOf(out.text)
    out.error = message != null ? { outcome: 'cleanError', message: `HTTP ${res.status}: ${message}` } : { outcome: 'protocolError', message: `HTTP ${res.status} without an error body` }
  }
  return out
}

/** A stream the client drops once the first bytes of the answer arrived, as a user pressing stop. */
async function cancelled (init: SoakIssueInit): Promise<SoakRecord> {
  const startedAt = init.clock()
  const rec: SoakRecord = { kind: init.kind, entry: init.entry, startedAt, endedAt: NaN, outcome: 'protocolError', status: 0, node: null }
  const done = (outcome: Outcome, error?: string): SoakRecord => {
    rec.endedAt = init.clock()
    rec.outcome = outcome
    if (error != null) rec.error = error.slice(0, 300)
    return rec
  }
  const messages = [{ role: 'user', content: 'soak cancel' }]
  const [path, body] = init.kind === 'cancel-openai'
    ? ['/v1/chat/completions', { model: init.model, messages, max_tokens: init.maxTokens, stream: true }]
    : init.kind === 'cancel-harombe'
      ? ['/api/complete', { model: init.model, messages, max_tokens: init.maxTokens, stream: true }]
      : ['/api/chat', { model: init.model, messages, stream: true, options: { num_predict: init.maxTokens } }]
  const controller = new AbortController()
  const timer = setTimeout(() => { controller.abort(new Error('timeout')) }, init.timeoutMs)
  try {
    let res: Response
    try {
      res = await fetch(`${init.api}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal: controller.signal })
    } catch (err: any) {
      return controller.signal.aborted ? done('hung', 'no response headers in time') : done('protocolError', `request failed: ${causeOf(err)}`)
    }
    rec.status = res.status
    rec.node = res.headers.get('x-harombe-node')
    if (res.status !== 200) {
      const text = await res.text().catch(() => '')
      const message = errorMessageOf(text)
      return message != null ? done('cleanError', `HTTP ${res.status}: ${message}`) : done('protocolError', `HTTP ${res.status} without an error body`)
    }
    const reader = res.body?.getReader()
    try {
      const first = await reader?.read()
      if (first == null || first.done) return done('truncated', 'stream ended before any byte')
    } catch (err: any) {
      return controller.signal.aborted ? done('hung', 'no byte of the stream in time') : done('truncated', `stream broke off: ${causeOf(err)}`)
    }
    controller.abort(new Error('cancelled by the client'))
    return done('cancelled')
  } finally {
    clearTimeout(timer)
  }
}

/**
 * A tool round trip over the OpenAI API: the model calls `lookup`, the client answers with the
 * tool's result, the model replies with text (checked against the synthetic text).
 */
async function toolCall (init: SoakIssueInit): Promise<SoakRecord> {
  const startedAt = init.clock()
  const stream = init.kind === 'tools-stream'
  const signal = AbortSignal.timeout(init.timeoutMs)
  const rec: SoakRecord = { kind: init.kind, entry: init.entry, startedAt, endedAt: NaN, outcome: 'protocolError', status: 0, node: null }
  const done = (outcome: Outcome, error?: string): SoakRecord => {
    rec.endedAt = init.clock()
    rec.outcome = outcome
    if (error != null) rec.error = error.slice(0, 300)
    return rec
  }
  const url = `${init.api}/v1/chat/completions`
  const user = { role: 'user', content: 'soak tools' }
  const first = await post(url, { model: init.model, messages: [user], tools: TOOLS, stream }, signal)
  Object.assign(rec, { status: first.status, node: first.node }, first.retryAfterS != null ? { retryAfterS: first.retryAfterS } : {})
  if (first.error != null) return done(first.error.outcome, `tool turn 1: ${first.error.message}`)
  const call = stream ? streamedToolCall(first.text ?? '') : wholeToolCall(first.text ?? '')
  if (call == null || call.name !== 'lookup') return done('corrupt', `tool turn 1: no lookup call in ${JSON.stringify((first.text ?? '').slice(0, 120))}`)
  const messages = [user, { role: 'assistant', content: null, tool_calls: [{ id: call.id, type: 'function', function: { name: call.name, arguments: call.arguments } }] }, { role: 'tool', tool_call_id: call.id, content: '42' }]
  const second = await post(url, { model: init.model, messages, max_tokens: init.maxTokens, stream }, signal)
  Object.assign(rec, { status: second.status, node: second.node }, second.retryAfterS != null ? { retryAfterS: second.retryAfterS } : {})
  if (second.error != null) return done(second.error.outcome, `tool turn 2: ${second.error.message}`)
  if (stream) {
    const error = sseEvents(second.text ?? '')?.find(e => e?.error != null)?.error
    if (error != null) return done('cleanError', `tool turn 2: in-stream error: ${typeof error === 'string' ? error : error.message ?? JSON.stringify(error)}`)
  }
  const text = stream ? streamedText(second.text ?? '') : wholeText(second.text ?? '')
  if (text == null) return done('truncated', 'tool turn 2: no complete answer')
  return text === init.expected ? done('completed') : done('corrupt', `tool turn 2: content differs (${text.length} chars, expected ${init.expected.length})`)
}

interface Call { id: string, name: string, arguments: string }

function wholeToolCall (text: string): Call | undefined {
  try {
    const c = JSON.parse(text)?.choices?.[0]?.message?.tool_calls?.[0]
    return c == null ? undefined : { id: c.id, name: c.function?.name, arguments: c.function?.arguments }
  } catch {
    return undefined
  }
}

function sseEvents (text: string): any[] | undefined {
  const events: any[] = []
  let sawDone = false
  for (const block of text.split('\n\n')) {
    if (!block.startsWith('data: ')) continue
    const data = block.slice(6)
    if (data === '[DONE]') {
      sawDone = true
      continue
    }
    try {
      events.push(JSON.parse(data))
    } catch {
      return undefined
    }
  }
  return sawDone ? events : undefined
}

function streamedToolCall (text: string): Call | undefined {
  const events = sseEvents(text)
  if (events == null) return undefined
  const call: Call = { id: '', name: '', arguments: '' }
  for (const e of events) {
    for (const t of e?.choices?.[0]?.delta?.tool_calls ?? []) {
      if (typeof t.id === 'string') call.id = t.id
      if (typeof t.function?.name === 'string') call.name += t.function.name
      if (typeof t.function?.arguments === 'string') call.arguments += t.function.arguments
    }
  }
  return call.name !== '' ? call : undefined
}

function wholeText (text: string): string | undefined {
  try {
    const content = JSON.parse(text)?.choices?.[0]?.message?.content
    return typeof content === 'string' ? content : undefined
  } catch {
    return undefined
  }
}

function streamedText (text: string): string | undefined {
  const events = sseEvents(text)
  if (events == null || events.some(e => e?.error != null)) return undefined
  return events.map(e => e?.choices?.[0]?.delta?.content ?? '').join('')
}
