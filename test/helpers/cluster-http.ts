import type { ClusterJson } from '../../src/api/cluster-json.js'

/**
 * Waits until `predicate` holds for the cluster view served at `api`, re-checking whenever the
 * peer pushes a view change on `GET /api/cluster/events` (SSE) — no polling sleeps.
 */
export async function waitForClusterHttp (api: string, predicate: (cluster: ClusterJson) => boolean, timeoutMs: number, what = 'condition'): Promise<ClusterJson> {
  const controller = new AbortController()
  const timer = setTimeout(() => { controller.abort(new Error('timeout')) }, timeoutMs)
  let last: ClusterJson | undefined
  try {
    const res = await fetch(new URL('/api/cluster/events', api), { signal: controller.signal })
    if (res.body == null) throw new Error(`no event stream from ${api}`)
    const decoder = new TextDecoder()
    let buffered = ''
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      buffered += decoder.decode(chunk, { stream: true })
      let end: number
      while ((end = buffered.indexOf('\n\n')) >= 0) {
        const event = buffered.slice(0, end)
        buffered = buffered.slice(end + 2)
        if (event.startsWith(':')) continue
        last = await (await fetch(new URL('/api/cluster', api), { signal: controller.signal })).json() as ClusterJson
        if (predicate(last)) return last
      }
    }
    throw new Error(`event stream from ${api} ended`)
  } catch (err) {
    if (controller.signal.aborted) {
      const view = last?.peers.map(p => `${p.name}=${p.state}`).join(', ') ?? 'none'
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} at ${api}; last view: ${view}`)
    }
    throw err
  } finally {
    clearTimeout(timer)
    controller.abort()
  }
}
