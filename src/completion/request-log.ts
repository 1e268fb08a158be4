// The request journal: one record per completion request served through this peer's API, kept
// for the dashboard (`GET /api/requests`) and fed to `/metrics`, so both show the same figures.
import { randomUUID } from 'node:crypto'
import { toCompletionError, type CompletionError } from './errors.js'
import type { CompletionService, NodeRef, Served, ServeOptions } from './service.js'
import type { CompletionRequest } from './types.js'

export type RequestApi = 'openai' | 'ollama' | 'harombe'
export type RequestOutcome = 'ok' | 'error' | 'aborted'

export interface RequestRecord {
  id: string
  /** Absent: a completion. `embedding`: an embedding request (issue 29), counted apart in /metrics. */
  kind?: 'embedding'
  /** Embedding inputs in the request. */
  inputs?: number
  /** Wall-clock ms when the request reached the completion service. */
  startedAt: number
  api: RequestApi
  /** The model that answered; the requested one (or `auto`) when none did. */
  model: string
  stream: boolean
  outcome: RequestOutcome
  /** Why it failed, for `error` and `aborted`. */
  error?: string
  errorCode?: CompletionError['code']
  /** The node that answered, or that had started answering when the request failed. */
  servedBy?: NodeRef
  /** Peers tried; 0 when routing refused before any attempt. */
  attempts: number
  /** Why the router chose the last peer tried ("prefix 1,152 of 1,233 chars warm on b, …"). */
  routeReason?: string
  /** Peers that wrote part of the answer before `servedBy` continued it (handovers after a failure mid-answer). */
  handovers?: NodeRef[]
  /** Until the first streamed delta reached the client writer; unset for whole answers. */
  ttftMs?: number
  durationMs: number
  completionTokens?: number
  promptTokens?: number
  /** Prompt tokens the serving backend took from its cache; absent when it reported no figure. */
  cachedTokens?: number
}

export interface RequestLogInit {
  /** Records kept for `recent`; older ones are dropped. */
  capacity?: number
  /** Monotonic ms for TTFT and durations (wall-clock jumps must not make them negative). */
  now?: () => number
  /** Wall-clock ms for `startedAt`. */
  date?: () => number
  id?: () => string
}

export interface RequestLog {
  /** `service` for one API: every `complete` through it is recorded. */
  wrap: (service: CompletionService, api: RequestApi) => CompletionService
  /** Newest first, at most `limit` (default: all kept). */
  recent: (limit?: number) => RequestRecord[]
  /** Requests that started and have not finished yet. */
  inFlight: () => number
  /** Records kept now, and at most (the ring buffer's capacity). */
  kept: () => { size: number, limit: number }
  /** Journals a request served outside `wrap` (embeddings). */
  record: (record: RequestRecord) => void
  /** Called with each finished request; returns the unsubscribe function. */
  onRecord: (listener: (record: RequestRecord) => void) => () => void
}

/** The dashboard shows the last hundred; more would only cost memory nobody reads. */
export const DEFAULT_REQUEST_LOG_CAPACITY = 100

/** A fixed-size buffer that overwrites its oldest entry when full. */
export class RingBuffer<T> {
  private readonly items: Array<T | undefined>
  private next = 0
  private count = 0

  constructor (readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`ring buffer capacity must be a positive integer, got ${capacity}`)
    this.items = new Array<T | undefined>(capacity)
  }

  get size (): number {
    return this.count
  }

  push (item: T): void {
    this.items[this.next] = item
    this.next = (this.next + 1) % this.capacity
    this.count = Math.min(this.count + 1, this.capacity)
  }

  /** Newest first, at most `limit`. */
  newest (limit = this.count): T[] {
    const n = Math.max(0, Math.min(Math.floor(limit), this.count))
    const out: T[] = []
    for (let i = 1; i <= n; i++) out.push(this.items[(this.next - i + this.capacity) % this.capacity] as T)
    return out
  }
}

/**
 * Generation speed: tokens over the time after the first one arrived when streamed (what the
 * reader feels once text flows), over the whole duration otherwise. Undefined without a usable span.
 */
export function tokensPerSecond (record: Pick<RequestRecord, 'completionTokens' | 'durationMs' | 'ttftMs'>): number | undefined {
  const tokens = record.completionTokens
  if (tokens == null || tokens <= 0) return undefined
  const spanMs = record.durationMs - (record.ttftMs ?? 0)
  if (spanMs <= 0) return undefined
  return tokens / (spanMs / 1000)
}

export function createRequestLog (init: RequestLogInit = {}): RequestLog {
  const now = init.now ?? (() => performance.now())
  const date = init.date ?? Date.now
  const newId = init.id ?? randomUUID
  const buffer = new RingBuffer<RequestRecord>(init.capacity ?? DEFAULT_REQUEST_LOG_CAPACITY)
  const listeners = new Set<(record: RequestRecord) => void>()
  let inFlight = 0

  const publish = (record: RequestRecord): void => {
    buffer.push(record)
    for (const listener of listeners) {
      // A broken listener (metrics) must not fail the request it is told about.
      try { listener(record) } catch {}
    }
  }

  // Objects are built field by field, not with spreads: spreading `options` and the optional
  // fields cost ~15 µs per request in a micro-benchmark, more than the rest of the journal.
  const complete = async (service: CompletionService, api: RequestApi, request: CompletionRequest, options: ServeOptions): Promise<Served> => {
    const started = now()
    const id = newId()
    const startedAt = date()
    const stream = options.onDelta != null
    let ttftMs: number | undefined
    let committedTo: NodeRef | undefined
    let attempts = 0
    let routeReason: string | undefined
    inFlight++
    try {
      const served = await service.complete(request, {
        signal: options.signal,
        onAttempt: (node, reason) => {
          attempts++
          routeReason = reason
          options.onAttempt?.(node, reason)
        },
        onCommit: node => {
          committedTo = node
          options.onCommit?.(node)
        },
        // Only a streaming caller gets onDelta: adding one would make backends stream whole answers.
        onDelta: options.onDelta == null
          ? undefined
          : delta => {
            ttftMs ??= now() - started
            options.onDelta?.(delta)
          }
      })
      const record: RequestRecord = { id, startedAt, api, model: served.result.model, stream, outcome: 'ok', servedBy: served.node, attempts: served.attempts, durationMs: now() - started, completionTokens: served.result.usage.completion_tokens }
      record.promptTokens = served.result.usage.prompt_tokens
      const cached = served.result.usage.prompt_tokens_details?.cached_tokens
      if (cached != null) record.cachedTokens = cached
      if (served.handovers != null && served.handovers.length > 0) record.handovers = served.handovers
      if (served.reason !== '') record.routeReason = served.reason
      if (ttftMs != null) record.ttftMs = ttftMs
      publish(record)
      return served
    } catch (thrown) {
      const err = toCompletionError(thrown)
      const outcome = options.signal.aborted || err.code === 'aborted' ? 'aborted' : 'error'
      const record: RequestRecord = { id, startedAt, api, model: request.model ?? 'auto', stream, outcome, error: err.message, errorCode: err.code, attempts, durationMs: now() - started }
      if (committedTo != null) record.servedBy = committedTo
      if (routeReason != null) record.routeReason = routeReason
      if (ttftMs != null) record.ttftMs = ttftMs
      publish(record)
      throw thrown
    } finally {
      inFlight--
    }
  }

  return {
    wrap: (service, api) => ({
      complete: async (request, options) => await complete(service, api, request, options),
      models: () => service.models()
    }),
    record: publish,
    recent: limit => buffer.newest(limit),
    inFlight: () => inFlight,
    kept: () => ({ size: buffer.size, limit: buffer.capacity }),
    onRecord: listener => {
      listeners.add(listener)
      return () => { listeners.delete(listener) }
    }
  }
}
