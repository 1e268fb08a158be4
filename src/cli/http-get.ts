import { errorDetail } from '../backends/upstream.js'
import { ApiError, apiFailureOf, describeApiFailure } from './api-failure.js'
import { UsageError } from './errors.js'

/** CLI commands talk to a local or LAN peer: 5 s is generous and never leaves the user waiting long. */
export const REQUEST_TIMEOUT_MS = 5_000

export interface FetchJsonOptions {
  token?: string
  /** The caller's cancel (Ctrl-C); the request is bounded by REQUEST_TIMEOUT_MS either way. */
  signal?: AbortSignal
  /** Checks the answer's shape; `what` names it in the error, e.g. `a cluster view`. */
  expect?: { what: string, test: (body: any) => boolean }
}

/**
 * GET a peer's JSON endpoint. Every failure is an ApiError with one clear line (no peer there,
 * timed out, 401, not a peer); the caller's own abort is rethrown as it came.
 */
export async function fetchJson<T> (api: string, path: string, options: FetchJsonOptions = {}): Promise<T> {
  const fail = (failure: ApiError['failure']): never => { throw new ApiError(api, failure) }
  const url = new URL(path, checkApiUrl(api))
  const tokenSent = options.token != null && options.token !== ''
  const timeout = AbortSignal.timeout(REQUEST_TIMEOUT_MS)
  const signal = options.signal != null ? AbortSignal.any([options.signal, timeout]) : timeout
  try {
    const res = await fetch(url, { headers: tokenSent ? { authorization: `Bearer ${options.token}` } : {}, signal })
    if (res.status === 401 || res.status === 403) return fail({ kind: 'unauthorized', status: res.status, tokenSent })
    if (!res.ok) return fail({ kind: 'http', status: res.status, detail: errorDetail(await res.text()) })
    let body: unknown
    try {
      body = await res.json()
    } catch (err) {
      if (signal.aborted) throw err
      return fail({ kind: 'not-a-peer', path, what: 'JSON' })
    }
    if (options.expect != null && !options.expect.test(body)) return fail({ kind: 'not-a-peer', path, what: options.expect.what })
    return body as T
  } catch (err) {
    if (err instanceof ApiError) throw err
    if (options.signal?.aborted === true) throw err
    if (timeout.aborted) return fail({ kind: 'timeout', ms: REQUEST_TIMEOUT_MS })
    return fail(apiFailureOf(err, tokenSent) ?? { kind: 'unreachable', cause: (err as Error)?.message ?? String(err) })
  }
}

/** `--api` as a URL; anything else is a usage error (exit 2), found before any request. */
export function checkApiUrl (api: string): URL {
  try {
    const url = new URL(api)
    if (url.protocol === 'http:' || url.protocol === 'https:') return url
  } catch {}
  throw new UsageError(describeApiFailure(api, { kind: 'bad-url' }))
}

/** `--token`, else HAROMBE_TOKEN; an empty value means none. */
export function tokenFrom (flag: string | undefined): string | undefined {
  const token = flag ?? process.env.HAROMBE_TOKEN
  return token != null && token !== '' ? token : undefined
}

/** The answer of `GET /api/cluster` looks like a cluster view. */
export const CLUSTER_VIEW = {
  what: 'a cluster view',
  test: (body: any): boolean => Array.isArray(body?.peers) && typeof body?.self?.name === 'string'
}
