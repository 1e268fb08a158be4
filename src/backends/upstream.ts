// The HTTP edge shared by the Ollama and OpenAI backends: one upstream server, its abort
// sources (caller, timeout, backend closed) and the mapping of every failure to the
// completion error classes, so both backends fail the same way for the same cause.
import {
  AbortedError,
  BadRequestError,
  BusyError,
  CompletionError,
  TimeoutError,
  UnavailableError,
  UnknownModelError
} from '../completion/errors.js'
import type { Health } from '../completion/types.js'
import type { Logger } from '../log.js'
import { StreamFormatError } from './sse.js'

/**
 * Bound for calls made without a signal (models, health) when no `timeoutMs` is configured:
 * a listing or version check answers in milliseconds when the server is up.
 */
export const DEFAULT_UPSTREAM_TIMEOUT_MS = 10_000

/** Error bodies are read this far: enough for the server's message, not a whole HTML error page. */
export const MAX_ERROR_BODY_BYTES = 4 * 1024

/** undici's codes for its own connect/headers/body timeouts: the server is slow, not gone. */
const TIMEOUT_CODES = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'ETIMEDOUT'])

/** Nothing answers at that address: the server is down or the URL is wrong. */
const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN'])

export interface UpstreamInit {
  /** Names the server in errors and logs, e.g. `ollama at http://127.0.0.1:11434`. */
  label: string
  /** Paths are appended to it; a trailing slash is ignored. */
  baseUrl: string
  headers?: Record<string, string>
  /**
   * When set, bounds every upstream call (also completions, whose callers always pass a
   * signal). When unset, only calls without a signal are bounded, by DEFAULT_UPSTREAM_TIMEOUT_MS.
   */
  timeoutMs?: number
  logger: Logger
}

/** One upstream call's combined signal, and how to name the failure once it happened. */
export interface UpstreamCall {
  readonly signal: AbortSignal
  /** The completion error for anything thrown while this call ran; the abort source wins. */
  explain: (err: unknown) => CompletionError
  /** Releases the timer and listeners; call in `finally`. */
  done: () => void
}

export interface RequestOptions {
  method?: 'GET' | 'POST'
  json?: unknown
}

export interface Upstream {
  readonly label: string
  /** Starts a call. Throws at once if the caller already aborted or the backend is closed. */
  call: (signal?: AbortSignal) => UpstreamCall
  /** fetch with the call's signal; a non-2xx answer or a network failure throws a CompletionError. */
  request: (call: UpstreamCall, path: string, options?: RequestOptions) => Promise<Response>
  /** GET `path`, timed; never throws. */
  health: (path: string, signal?: AbortSignal) => Promise<Health>
  /** Aborts every call in flight (they fail with UnavailableError) and refuses new ones. */
  close: () => void
}

export function createUpstream (init: UpstreamInit): Upstream {
  const base = init.baseUrl.replace(/\/+$/, '')
  // Fail at construction, not on the first request, when the URL is not one.
  void new URL(base)
  const lifetime = new AbortController()
  const closedError = (): UnavailableError => new UnavailableError(`${init.label}: backend closed`)

  const upstream: Upstream = {
    label: init.label,

    call (caller) {
      if (lifetime.signal.aborted) throw closedError()
      if (caller?.aborted === true) throw fromAbortReason(caller.reason)
      const controller = new AbortController()
      const timeoutMs = init.timeoutMs ?? (caller == null ? DEFAULT_UPSTREAM_TIMEOUT_MS : undefined)
      let timedOut = false
      const timer = timeoutMs != null
        ? setTimeout(() => { timedOut = true; controller.abort(new TimeoutError(`${init.label} did not answer within ${timeoutMs} ms`)) }, timeoutMs)
        : undefined
      const onCaller = (): void => { controller.abort(caller?.reason) }
      const onClose = (): void => { controller.abort(closedError()) }
      caller?.addEventListener('abort', onCaller, { once: true })
      lifetime.signal.addEventListener('abort', onClose, { once: true })
      return {
        signal: controller.signal,
        explain (err) {
          if (caller?.aborted === true) return fromAbortReason(caller.reason)
          if (lifetime.signal.aborted) return closedError()
          if (timedOut) return new TimeoutError(`${init.label} did not answer within ${timeoutMs} ms`)
          if (err instanceof CompletionError) return err
          if (err instanceof StreamFormatError) return new UnavailableError(`${init.label} sent a malformed stream: ${err.message}`)
          if (err instanceof SyntaxError) return new UnavailableError(`${init.label} sent malformed JSON: ${err.message}`)
          const { code, message } = networkCause(err)
          if (code != null && TIMEOUT_CODES.has(code)) return new TimeoutError(`${init.label} timed out (${code})`)
          if (code != null && UNREACHABLE_CODES.has(code)) return new UnavailableError(`${init.label} is unreachable (${code})`)
          return new UnavailableError(`${init.label} connection failed: ${message}${code != null ? ` (${code})` : ''}`)
        },
        done () {
          clearTimeout(timer)
          caller?.removeEventListener('abort', onCaller)
          lifetime.signal.removeEventListener('abort', onClose)
        }
      }
    },

    async request (call, path, options = {}) {
      const json = options.json
      let response: Response
      try {
        response = await fetch(base + path, {
          method: options.method ?? (json === undefined ? 'GET' : 'POST'),
          headers: {
            accept: 'application/json, text/event-stream, application/x-ndjson',
            ...(json !== undefined ? { 'content-type': 'application/json' } : {}),
            ...init.headers
          },
          ...(json !== undefined ? { body: JSON.stringify(json) } : {}),
          signal: call.signal
        })
      } catch (err) {
        throw call.explain(err)
      }
      if (response.ok) return response
      let error: CompletionError
      try {
        error = errorFromStatus(response.status, await readErrorBody(response), init.label)
      } catch (err) {
        throw call.explain(err)
      }
      init.logger.debug({ status: response.status, path }, error.message)
      throw error
    },

    async health (path, signal) {
      const started = performance.now()
      let call: UpstreamCall
      try {
        call = upstream.call(signal)
      } catch (err) {
        return { ok: false, reason: (err as Error).message }
      }
      try {
        const response = await upstream.request(call, path)
        // Reading the (small) body completes the exchange, so the connection is reused.
        await response.arrayBuffer()
        return { ok: true, latencyMs: Math.round((performance.now() - started) * 10) / 10 }
      } catch (err) {
        return { ok: false, reason: call.explain(err).message }
      } finally {
        call.done()
      }
    },

    close () {
      lifetime.abort(closedError())
    }
  }
  return upstream
}

/**
 * The caller's abort reason as a completion error: a CompletionError reason is kept (a
 * router may abort with its own TimeoutError), a DOM `TimeoutError` (AbortSignal.timeout)
 * is a timeout, anything else means the caller went away.
 */
export function fromAbortReason (reason: unknown): CompletionError {
  if (reason instanceof CompletionError) return reason
  const name = (reason as Error | undefined)?.name
  if (name === 'TimeoutError') return new TimeoutError((reason as Error).message !== '' ? (reason as Error).message : 'timed out')
  return new AbortedError('the caller aborted the request')
}

/**
 * One mapping for every upstream: what a status says about the request (bad, unknown
 * model) versus about the server (busy, down), which decides whether the router may retry.
 */
export function errorFromStatus (status: number, body: string, label: string): CompletionError {
  const detail = errorDetail(body)
  const message = `${label} answered ${status}${detail !== '' ? `: ${detail}` : ''}`
  if (status === 404) return new UnknownModelError(message)
  if (status === 429) return new BusyError(message)
  // Ollama answers 503 "server busy … maximum pending requests exceeded" when its queue is full.
  if (status === 503 && /busy|pending requests|overloaded/i.test(detail)) return new BusyError(message)
  if (status === 408) return new TimeoutError(message)
  // A wrong or missing key is this peer's configuration, not the request: another peer may do.
  if (status === 401 || status === 403) return new UnavailableError(`${message} (check the backend API key)`)
  if (status >= 400 && status < 500) {
    // Some servers (vLLM, LM Studio) answer an unknown model with 400 instead of 404.
    if (/model_not_found|model .*(not found|does not exist)/i.test(body)) return new UnknownModelError(message)
    return new BadRequestError(message)
  }
  return new UnavailableError(message)
}

/** The human part of an error body: OpenAI `{error: {message}}`, Ollama `{error: "…"}`, or the text. */
export function errorDetail (body: string): string {
  const text = body.trim()
  try {
    const parsed = JSON.parse(text)
    const error = parsed?.error ?? parsed
    if (typeof error === 'string') return error
    if (typeof error?.message === 'string') return error.message
    if (typeof parsed?.detail === 'string') return parsed.detail
  } catch {}
  return text.slice(0, 300)
}

/** At most MAX_ERROR_BODY_BYTES of an error body: enough for the message, never a whole page. */
export async function readErrorBody (response: Response): Promise<string> {
  if (response.body == null) return ''
  const reader = response.body.getReader()
  const parts: Uint8Array[] = []
  let size = 0
  try {
    while (size < MAX_ERROR_BODY_BYTES) {
      const { done, value } = await reader.read()
      if (done) break
      parts.push(value)
      size += value.byteLength
    }
  } finally {
    if (size >= MAX_ERROR_BODY_BYTES) reader.cancel().catch(() => {})
    reader.releaseLock()
  }
  return new TextDecoder().decode(Buffer.concat(parts)).slice(0, MAX_ERROR_BODY_BYTES)
}

/** fetch wraps network failures as `TypeError('fetch failed', { cause })`; the details are in the cause. */
function networkCause (err: unknown): { code?: string, message: string } {
  const e = err as { message?: string, cause?: { code?: string, message?: string, errors?: Array<{ code?: string }> } }
  const code = e?.cause?.code ?? e?.cause?.errors?.[0]?.code
  const message = e?.cause?.message ?? e?.message ?? String(err)
  return code != null ? { code, message } : { message }
}

export function checkCapacity (capacity: number, label: string): number {
  if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`${label}: capacity must be a positive integer, got ${capacity}`)
  return capacity
}
