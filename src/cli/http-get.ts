import { CommandFailedError } from './errors.js'

/** CLI commands talk to a local or LAN peer: 5 s is generous and never leaves the user waiting long. */
const REQUEST_TIMEOUT_MS = 5_000

/** GET a peer's JSON endpoint with a clear one-line failure (unreachable, 401, not a peer). */
export async function fetchJson<T> (api: string, path: string, token?: string, signal?: AbortSignal): Promise<T> {
  let url: URL
  try {
    url = new URL(path, api)
  } catch {
    throw new CommandFailedError(`--api ${api}: not a URL (expected e.g. http://127.0.0.1:8000)`)
  }
  let res: Response
  try {
    res = await fetch(url, {
      headers: token != null && token !== '' ? { authorization: `Bearer ${token}` } : {},
      signal: signal ?? AbortSignal.timeout(REQUEST_TIMEOUT_MS)
    })
  } catch (err: any) {
    const cause = err?.cause?.code ?? err?.cause?.message ?? (err?.name === 'TimeoutError' ? 'timed out' : err?.message)
    throw new CommandFailedError(`cannot reach a peer at ${api} (${cause === 'ECONNREFUSED' ? 'connection refused — is `harombe-peer start` running?' : cause})`)
  }
  if (res.status === 401) throw new CommandFailedError(`${api}: 401 unauthorized — pass --token or set HAROMBE_TOKEN`)
  if (!res.ok) throw new CommandFailedError(`${url.href}: HTTP ${res.status} ${await res.text().catch(() => '')}`.trim())
  try {
    return await res.json() as T
  } catch {
    throw new CommandFailedError(`${url.href}: the answer is not JSON — is this a harombe peer?`)
  }
}
