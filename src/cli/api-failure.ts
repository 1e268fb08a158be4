// Every CLI command that talks to a peer's HTTP API fails the same way for the same cause:
// `fetchJson` (status, models, test, status --watch) and the RemoteClient (complete) both map
// their errors to an ApiFailure here, and one function words it.

/** Why a call to a peer's HTTP API failed, as far as the user can act on it. */
export type ApiFailure =
  | { kind: 'bad-url' }
  /** Nothing (or nothing speaking HTTP) answers at that address; `cause` is human words. */
  | { kind: 'unreachable', cause: string }
  | { kind: 'timeout', ms?: number }
  | { kind: 'unauthorized', status: number, tokenSent: boolean }
  | { kind: 'http', status: number, detail: string }
  /** It answered, but not the way a harombe peer does. */
  | { kind: 'not-a-peer', path: string, what: string }

/** A peer API call failed; `failure` says why (status --watch retries some kinds, not others). */
export class ApiError extends Error {
  static name = 'ApiError'
  name = ApiError.name
  constructor (readonly api: string, readonly failure: ApiFailure) {
    super(describeApiFailure(api, failure))
  }
}

/** Worth retrying later: the peer may come (back) up. A wrong token or URL will not fix itself. */
export function isTransient (failure: ApiFailure): boolean {
  return failure.kind === 'unreachable' || failure.kind === 'timeout' || (failure.kind === 'http' && failure.status >= 500)
}

const CAUSES: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host name lookup failed',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  EADDRNOTAVAIL: 'address not available',
  UND_ERR_SOCKET: 'connection closed without an HTTP answer',
  UND_ERR_CLOSED: 'connection closed without an HTTP answer'
}
const TIMEOUT_CODES = new Set(['ETIMEDOUT', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT'])

/** One line: what happened at `api`, and what to do about it. */
export function describeApiFailure (api: string, failure: ApiFailure): string {
  const what = summarizeApiFailure(api, failure)
  switch (failure.kind) {
    case 'unreachable':
      return `${what} — start one with \`npx harombe-peer start\` or pass --api <url>`
    case 'timeout':
      return `${what} — is the peer overloaded, or is --api the right address?`
    case 'unauthorized':
      return `${what} — ${failure.tokenSent ? 'check --token or HAROMBE_TOKEN' : 'pass --token <token> or set HAROMBE_TOKEN'}`
    case 'not-a-peer':
      return `${what} — is this a harombe peer API?`
    default:
      return what
  }
}

/** What happened, without the advice: for `status --watch`, whose advice is that it retries. */
export function summarizeApiFailure (api: string, failure: ApiFailure): string {
  switch (failure.kind) {
    case 'bad-url':
      return `--api ${api}: not an http(s) URL (expected e.g. http://127.0.0.1:8000)`
    case 'unreachable':
      return `no harombe peer at ${api} (${failure.cause})`
    case 'timeout':
      return `no answer from ${api}${failure.ms != null ? ` within ${failure.ms} ms` : ''} (timed out)`
    case 'unauthorized':
      return `${api} ${failure.tokenSent ? 'rejected the bearer token' : 'needs a bearer token'} (${failure.status} ${failure.status === 403 ? 'forbidden' : 'unauthorized'})`
    case 'http':
      return `${api} answered HTTP ${failure.status}${failure.detail !== '' ? `: ${failure.detail}` : ''}`
    case 'not-a-peer':
      return `${api} answered ${failure.path} without ${failure.what}`
  }
}

/**
 * The failure behind `err`, or undefined when it is not about reaching the API (a completion
 * that the mesh ran and failed, say). Understands fetch's own errors and the RemoteClient's.
 */
export function apiFailureOf (err: unknown, tokenSent: boolean): ApiFailure | undefined {
  const e = err as { name?: string, message?: string, cause?: { code?: string, message?: string, errors?: Array<{ code?: string }> } } | undefined
  if (e == null) return undefined
  // AbortSignal.timeout's reason (a DOMException named TimeoutError).
  if (e.name === 'TimeoutError') return { kind: 'timeout' }
  // fetch: TypeError('fetch failed', { cause }); a host with several addresses fails with an AggregateError cause.
  if (e.name === 'TypeError' && e.cause != null) {
    const code = e.cause.code ?? e.cause.errors?.[0]?.code
    if (code != null && TIMEOUT_CODES.has(code)) return { kind: 'timeout' }
    return { kind: 'unreachable', cause: (code != null ? CAUSES[code] : undefined) ?? code ?? e.cause.message ?? 'fetch failed' }
  }
  return remoteClientFailure(e.name ?? '', e.message ?? '', tokenSent)
}

/**
 * The RemoteClient's errors come from the shared upstream layer (src/backends/upstream.ts),
 * which keeps only the message: these patterns follow its wording, and the e2e tests of
 * `complete` against a closed port and a token-protected peer fail if it drifts.
 */
function remoteClientFailure (name: string, message: string, tokenSent: boolean): ApiFailure | undefined {
  if (!message.startsWith('peer at ')) return undefined
  if (name === 'CompletionTimeoutError') {
    const ms = /within (\d+) ms/.exec(message)?.[1]
    return ms != null ? { kind: 'timeout', ms: Number(ms) } : { kind: 'timeout' }
  }
  if (name !== 'UnavailableError') return undefined
  const unreachable = /is unreachable \((\w+)\)$/.exec(message)
  if (unreachable?.[1] != null) return { kind: 'unreachable', cause: CAUSES[unreachable[1]] ?? unreachable[1] }
  const failed = /connection failed: (.*?)(?: \((\w+)\))?$/.exec(message)
  if (failed != null) return { kind: 'unreachable', cause: (failed[2] != null ? CAUSES[failed[2]] : undefined) ?? failed[1] ?? 'connection failed' }
  const status = Number(/ answered (\d{3})\b/.exec(message)?.[1])
  if (status === 401 || status === 403) return { kind: 'unauthorized', status, tokenSent }
  return undefined
}
