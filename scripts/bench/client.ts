// The benchmark client: OpenAI-style chat completions over node:http with keep-alive, timing
// time to first token and total time, counting tokens from the usage chunk, and classifying
// every failure. Plus a closed-loop load generator bounded by both time and request count.
import { Agent, request as httpRequest } from 'node:http'

/** One keep-alive pool for every target, so no target pays for new TCP connections the others do not. */
export const agent = new Agent({ keepAlive: true, maxSockets: Infinity, keepAliveMsecs: 30_000 })

export interface ChatOutcome {
  ok: boolean
  status: number
  /** performance.now() when the request was sent and when the answer (or failure) ended. */
  startedAt: number
  endedAt: number
  /** First non-empty content (streams); the whole answer for non-streamed requests. NaN if none. */
  ttftMs: number
  totalMs: number
  /** completion_tokens from the usage chunk or field. */
  tokens: number
  /** Characters of content received. */
  chars: number
  /** `x-harombe-node`: which peer served it (absent for the direct server and the proxy). */
  node?: string
  /** The answer's text, when asked for (`keepContent`). */
  content?: string
  /** usage.prompt_tokens, when the answer reported usage. */
  promptTokens?: number
  /** usage.prompt_tokens_details.cached_tokens: absent when the answer did not report it. */
  cachedTokens?: number
  /** The client closed the stream on purpose at its first content (`cancelAtFirstToken`); ok is true. */
  cancelled?: boolean
  error?: string
}

export interface ChatOptions {
  stream: boolean
  maxTokens: number
  model?: string
  timeoutMs?: number
  /** Extra body fields: `tier`, `peer`, … */
  extra?: Record<string, unknown>
  /** The conversation to send; default one short user message. */
  messages?: Array<{ role: string, content: string }>
  /** Keep the answer's text in the outcome (a conversation's next turn needs it). */
  keepContent?: boolean
  /** Streams only: close the connection at the first content, as a user pressing stop (outcome `cancelled`). */
  cancelAtFirstToken?: boolean
}

/** A benchmark request never legitimately takes this long; past it the request counts as failed. */
const DEFAULT_TIMEOUT_MS = 30_000

const PROMPT = [{ role: 'user', content: 'Say something short.' }]

/** POST `endpoint` (…/v1/chat/completions) and measure it. Never throws: failures are outcomes. */
export async function chat (endpoint: string, options: ChatOptions): Promise<ChatOutcome> {
  const url = new URL(endpoint)
  const body = JSON.stringify({
    model: options.model ?? 'auto',
    messages: options.messages ?? PROMPT,
    max_tokens: options.maxTokens,
    stream: options.stream,
    ...(options.stream ? { stream_options: { include_usage: true } } : {}),
    ...options.extra
  })
  const startedAt = performance.now()
  return await new Promise<ChatOutcome>((resolve) => {
    let firstAt = NaN
    let tokens = 0
    let chars = 0
    let status = 0
    let node: string | undefined
    let content = ''
    let promptTokens: number | undefined
    let cachedTokens: number | undefined
    const readUsage = (usage: any): void => {
      if (typeof usage?.completion_tokens === 'number') tokens = usage.completion_tokens
      if (typeof usage?.prompt_tokens === 'number') promptTokens = usage.prompt_tokens
      const cached = usage?.prompt_tokens_details?.cached_tokens
      if (typeof cached === 'number') cachedTokens = cached
    }
    let settled = false
    let cancelled = false
    const finish = (ok: boolean, error?: string): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      const endedAt = performance.now()
      resolve({
        ok,
        status,
        startedAt,
        endedAt,
        ttftMs: firstAt - startedAt,
        totalMs: endedAt - startedAt,
        tokens,
        chars,
        ...(node != null ? { node } : {}),
        ...(options.keepContent === true ? { content } : {}),
        ...(promptTokens != null ? { promptTokens } : {}),
        ...(cachedTokens != null ? { cachedTokens } : {}),
        ...(cancelled ? { cancelled } : {}),
        ...(error != null ? { error } : {})
      })
    }
    const req = httpRequest({
      host: url.hostname,
      port: url.port,
      path: url.pathname,
      method: 'POST',
      agent,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }
    }, (res) => {
      status = res.statusCode ?? 0
      const header = res.headers['x-harombe-node']
      node = typeof header === 'string' ? header : undefined
      res.setEncoding('utf8')
      if (status !== 200) {
        let text = ''
        res.on('data', (c: string) => { text += c })
        res.on('end', () => { finish(false, `HTTP ${status}: ${text.slice(0, 200)}`) })
        res.on('error', (e) => { finish(false, `HTTP ${status}: ${e.message}`) })
        return
      }
      if (!options.stream) {
        let text = ''
        res.on('data', (c: string) => { text += c })
        res.on('end', () => {
          try {
            const answer = JSON.parse(text)
            firstAt = performance.now()
            content = answer?.choices?.[0]?.message?.content ?? ''
            chars = content.length
            readUsage(answer?.usage)
            finish(true)
          } catch (e: any) {
            finish(false, `bad JSON: ${e?.message}`)
          }
        })
        res.on('error', (e) => { finish(false, `response: ${e.message}`) })
        return
      }
      // SSE: events end with a blank line; every event is parsed, as an SDK client would.
      let buffer = ''
      let done = false
      let failure: string | undefined
      res.on('data', (c: string) => {
        buffer += c
        let end: number
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const event = buffer.slice(0, end)
          buffer = buffer.slice(end + 2)
          if (!event.startsWith('data: ')) continue
          const data = event.slice(6)
          if (data === '[DONE]') {
            done = true
            continue
          }
          let chunk: any
          try {
            chunk = JSON.parse(data)
          } catch {
            failure = 'malformed SSE event'
            continue
          }
          if (chunk?.error != null) {
            failure = `stream error: ${chunk.error.message ?? JSON.stringify(chunk.error)}`
            continue
          }
          const delta = chunk?.choices?.[0]?.delta?.content
          if (typeof delta === 'string' && delta !== '') {
            if (Number.isNaN(firstAt)) firstAt = performance.now()
            chars += delta.length
            if (options.keepContent === true) content += delta
            if (options.cancelAtFirstToken === true) {
              cancelled = true
              finish(true)
              req.destroy()
              return
            }
          }
          if (chunk?.usage != null) readUsage(chunk.usage)
        }
      })
      res.on('end', () => {
        if (failure != null) finish(false, failure)
        else if (!done) finish(false, 'stream ended without [DONE]')
        else finish(true)
      })
      res.on('error', (e) => { finish(false, `stream: ${e.message}`) })
      res.on('aborted', () => { finish(false, 'stream aborted') })
    })
    const timer = setTimeout(() => {
      req.destroy(new Error(`timeout after ${options.timeoutMs ?? DEFAULT_TIMEOUT_MS} ms`))
    }, options.timeoutMs ?? DEFAULT_TIMEOUT_MS)
    req.on('error', (e) => { finish(false, `request: ${e.message}`) })
    req.end(body)
  })
}

/** GET a JSON document (cluster views). Throws on a non-2xx answer. */
export async function getJson (url: string, timeoutMs = 5_000): Promise<any> {
  const u = new URL(url)
  return await new Promise((resolve, reject) => {
    const req = httpRequest({ host: u.hostname, port: u.port, path: u.pathname + u.search, agent }, (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => { text += c })
      res.on('end', () => {
        if ((res.statusCode ?? 0) >= 300) reject(new Error(`GET ${url}: HTTP ${res.statusCode}`))
        else {
          try { resolve(JSON.parse(text)) } catch (e) { reject(e) }
        }
      })
      res.on('error', reject)
    })
    req.setTimeout(timeoutMs, () => { req.destroy(new Error(`GET ${url}: timeout`)) })
    req.on('error', reject)
    req.end()
  })
}

/** One member as `/api/cluster` shows it; only the fields the benchmarks read. */
export interface MemberState {
  name: string
  state: string
  reason: string
  models: string[]
}

export interface ClusterWatch {
  /** peer id → member, as of the last event. */
  members: Map<string, MemberState>
  close: () => void
}

/**
 * Follows a peer's view through `GET /api/cluster/events` (a snapshot, then one event per
 * change), calling `onChange` after each with the arrival time. Pushed, not polled: watching
 * 20 peers this way costs them far less than fetching 20 snapshots every few milliseconds, and
 * the time of a change is known to the event, not to a poll interval.
 */
export function watchCluster (api: string, onChange: (members: Map<string, MemberState>, at: number) => void): ClusterWatch {
  const u = new URL(`${api}/api/cluster/events`)
  const members = new Map<string, MemberState>()
  const pick = (p: any): MemberState => ({ name: p.name, state: p.state, reason: p.reason, models: p.models ?? [] })
  // Its own connection: a stream that never ends must not hold a socket of the shared pool.
  const req = httpRequest({ host: u.hostname, port: u.port, path: u.pathname, agent: false }, (res) => {
    res.setEncoding('utf8')
    let buffer = ''
    res.on('data', (chunk: string) => {
      const at = performance.now()
      buffer += chunk
      let end: number
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end)
        buffer = buffer.slice(end + 2)
        const event = /^event: (.*)$/m.exec(block)?.[1]
        const data = /^data: (.*)$/m.exec(block)?.[1]
        if (event == null || data == null) continue
        const body = JSON.parse(data)
        if (event === 'snapshot') {
          members.clear()
          for (const p of body.peers ?? []) members.set(p.peer_id, pick(p))
        } else if (event === 'change') {
          if (body.kind === 'removed') members.delete(body.peer_id)
          else members.set(body.peer_id, pick(body.peer))
        }
        onChange(members, at)
      }
    })
    res.on('error', () => {})
  })
  req.on('error', () => {})
  req.end()
  return { members, close: () => { req.destroy() } }
}

export interface LoadInit {
  concurrency: number
  /** The measured window; requests still running at its end are awaited and counted. */
  durationMs: number
  /** Hard bound on requests started in the measured window. */
  maxRequests: number
  /** Same load, not recorded, before the window: connections and JIT warm up. */
  warmupMs?: number
  issue: () => Promise<ChatOutcome>
  /** Called about every 250 ms with the completed count. */
  onProgress?: (completed: number) => void
}

export interface LoadResult {
  outcomes: ChatOutcome[]
  /** From the window's start until the last request ended. */
  elapsedMs: number
  completed: number
  failed: number
  /** Successful requests per second over the window. */
  perSecond: number
}

/** Closed loop: `concurrency` clients, each sending its next request when the previous ends. */
export async function runLoad (init: LoadInit): Promise<LoadResult> {
  const warmupMs = init.warmupMs ?? 0
  if (warmupMs > 0) {
    const until = performance.now() + warmupMs
    await Promise.all(Array.from({ length: init.concurrency }, async () => {
      while (performance.now() < until) await init.issue()
    }))
  }
  const outcomes: ChatOutcome[] = []
  let started = 0
  const start = performance.now()
  const deadline = start + init.durationMs
  const ticker = setInterval(() => { init.onProgress?.(outcomes.length) }, 250)
  try {
    await Promise.all(Array.from({ length: init.concurrency }, async () => {
      while (performance.now() < deadline && started < init.maxRequests) {
        started++
        outcomes.push(await init.issue())
      }
    }))
  } finally {
    clearInterval(ticker)
  }
  const end = outcomes.reduce((m, o) => Math.max(m, o.endedAt), start)
  const elapsedMs = end - start
  const completed = outcomes.filter(o => o.ok).length
  return { outcomes, elapsedMs, completed, failed: outcomes.length - completed, perSecond: completed / (elapsedMs / 1000) }
}

/**
 * Follows several peers' event streams and records when each first lists `n` members alive:
 * the measure of convergence shared by the convergence and idle benchmark parts.
 */
export function allAliveTracker (n: number): { complete: Map<number, number>, watches: ClusterWatch[], watch: (index: number, api: string) => void } {
  const complete = new Map<number, number>()
  const watches: ClusterWatch[] = []
  const watch = (index: number, api: string): void => {
    watches.push(watchCluster(api, (members, at) => {
      if (complete.has(index)) return
      let alive = 0
      for (const m of members.values()) if (m.state === 'alive') alive++
      if (alive >= n) complete.set(index, at)
    }))
  }
  return { complete, watches, watch }
}

/** Answers the peers at `apis` handed to another peer so far: the sum of their `harombe_completion_handovers_total`. */
export async function handoverCount (apis: string[]): Promise<number> {
  let total = 0
  for (const api of apis) {
    const text = await (await fetch(`${api}/metrics`, { signal: AbortSignal.timeout(5_000) })).text()
    for (const match of text.matchAll(/^harombe_completion_handovers_total\{[^}]*\} (\d+)/gm)) total += Number(match[1])
  }
  return total
}
