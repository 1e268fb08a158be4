// One peer's own HTTP API (`/api/complete`, `/api/models`, `/api/cluster`), spoken by the public
// RemoteClient and by the Backend that makes an HTTP-only listed node a routing candidate.
import { BadRequestError, errorFromCode, isCompletionErrorCode, UnauthorizedError, UnavailableError, type CompletionError } from '../completion/errors.js'
import type { CompleteOptions, CompletionRequest, Health } from '../completion/types.js'
import { readNdjson } from '../backends/sse.js'
import { createUpstream, errorDetail, errorFromStatus, readErrorBody, type UpstreamCall } from '../backends/upstream.js'
import { silentLogger, type Logger } from '../log.js'
import type { CompletionAnswer } from './types.js'

export interface PeerHttpInit {
  /** The peer's HTTP API, e.g. `http://192.0.2.20:8000`. */
  baseUrl: string
  /** Sent as `Authorization: Bearer <token>`. */
  token?: string
  /** Bounds every call; without it only calls made without a signal get a default bound. */
  timeoutMs?: number
  logger?: Logger
}

export interface PeerHttp {
  /** `peer at <baseUrl>`: starts every error message, so a user sees which peer failed. */
  readonly label: string
  getJson: <T>(path: string, signal?: AbortSignal) => Promise<T>
  /** POSTs `json` and reads the JSON answer (a non-2xx throws the error the peer names). */
  postJson: <T>(path: string, json: unknown, signal?: AbortSignal) => Promise<T>
  /** One completion through the peer (it routes it); streamed as NDJSON when `onDelta` is given. */
  complete: (request: CompletionRequest, options: CompleteOptions) => Promise<CompletionAnswer>
  health: (signal?: AbortSignal) => Promise<Health>
  /** Aborts every call in flight and refuses new ones. */
  close: () => void
}

type StreamLine =
  | { type: 'delta', content: string }
  | ({ type: 'done' } & CompletionAnswer)
  | { type: 'error', error: { code: string, message: string } }

export function createPeerHttp (init: PeerHttpInit): PeerHttp {
  const label = `peer at ${init.baseUrl}`
  const base = init.baseUrl.replace(/\/+$/, '')
  const headers: Record<string, string> = init.token != null && init.token !== '' ? { authorization: `Bearer ${init.token}` } : {}
  // The upstream layer owns the signals (caller, timeout, closed) and names network failures;
  // requests are sent here, because a peer's error body names its error class.
  const upstream = createUpstream({ label, baseUrl: init.baseUrl, headers, timeoutMs: init.timeoutMs, logger: init.logger ?? silentLogger() })

  /** fetch with the call's signal; an answer other than 2xx throws the error it names. */
  const request = async (call: UpstreamCall, path: string, json?: unknown): Promise<Response> => {
    const response = await fetch(base + path, {
      method: json === undefined ? 'GET' : 'POST',
      headers: { accept: 'application/json, application/x-ndjson', ...(json !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
      ...(json !== undefined ? { body: JSON.stringify(json) } : {}),
      signal: call.signal
    })
    if (response.ok) return response
    throw errorFromPeer(response.status, await readErrorBody(response), label)
  }

  /** Runs `work` as one upstream call: a failure is named by its abort source (caller, timeout, close) first, then by what was thrown. */
  const withCall = async <T>(signal: AbortSignal | undefined, work: (call: UpstreamCall) => Promise<T>): Promise<T> => {
    const call = upstream.call(signal)
    try {
      return await work(call)
    } catch (err) {
      throw call.explain(err)
    } finally {
      call.done()
    }
  }

  return {
    label,

    getJson: async <T>(path: string, signal?: AbortSignal): Promise<T> => await withCall(signal, async call => await (await request(call, path)).json() as T),

    postJson: async <T>(path: string, json: unknown, signal?: AbortSignal): Promise<T> => await withCall(signal, async call => await (await request(call, path, json)).json() as T),

    complete: async (completion, options) => await withCall(options.signal, async call => {
      const stream = options.onDelta != null
      const response = await request(call, '/api/complete', { ...completion, stream })
      if (!stream) return await response.json() as CompletionAnswer
      if (response.body == null) throw new UnavailableError(`${label} sent an empty stream`)
      for await (const line of readNdjson<StreamLine>(response.body)) {
        if (line.type === 'delta') options.onDelta?.({ content: line.content })
        else if (line.type === 'error') throw errorFromCode(line.error.code, line.error.message)
        else if (line.type === 'done') {
          const { type: _type, ...answer } = line
          return answer
        }
      }
      // Like the mesh protocol: an answer without its final line is a failure, not a short answer.
      throw new UnavailableError(`${label}: stream ended before the final answer`)
    }),

    health: async signal => await upstream.health('/healthz', signal),

    close: () => { upstream.close() }
  }
}

/**
 * A peer's error answer as the class it names: its body carries the wire code (`no_peer`,
 * `timeout`, …), which says more than the status. Anything else (a proxy, another server) is
 * judged by its status like any upstream. The message keeps the `<label> answered <status>`
 * shape the CLI words its failures from.
 */
export function errorFromPeer (status: number, body: string, label: string): CompletionError {
  const detail = errorDetail(body)
  const message = `${label} answered ${status}${detail !== '' ? `: ${detail}` : ''}`
  if (status === 401 || status === 403) return new UnauthorizedError(message)
  const code = peerErrorCode(body)
  if (isCompletionErrorCode(code)) return errorFromCode(code, message)
  // Not `unknown_model`: no route at that path, so the base URL is wrong, not the model.
  if (status === 404) return new BadRequestError(`${message} (is ${label.replace(/^peer at /, '')} a harombe peer's API?)`)
  return errorFromStatus(status, body, label)
}

/** `{"error": {"code": …}}`, the harombe API's error shape; undefined for any other body. */
function peerErrorCode (body: string): unknown {
  try {
    return JSON.parse(body)?.error?.code
  } catch {
    return undefined
  }
}
