import type { Peer } from './peer.js'
import type { ClusterJson } from './api/cluster-json.js'

/**
 * Resolves when `predicate` holds for the peer's cluster view, re-checking on every view change
 * (no polling). Rejects after `timeoutMs` with the view it last saw. Used by `demo` and the tests.
 */
export async function waitForView (peer: Pick<Peer, 'cluster' | 'onChange' | 'info'>, predicate: (cluster: ClusterJson) => boolean, timeoutMs: number, what = 'condition'): Promise<ClusterJson> {
  const check = (): ClusterJson | undefined => {
    const cluster = peer.cluster()
    return predicate(cluster) ? cluster : undefined
  }
  const now = check()
  if (now != null) return now
  return await new Promise<ClusterJson>((resolve, reject) => {
    const timer = setTimeout(() => {
      unsubscribe()
      reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what} on ${peer.info().name}; view: ${describeView(peer.cluster())}`))
    }, timeoutMs)
    const unsubscribe = peer.onChange(() => {
      const cluster = check()
      if (cluster == null) return
      clearTimeout(timer)
      unsubscribe()
      resolve(cluster)
    })
  })
}

export function describeView (cluster: ClusterJson): string {
  return cluster.peers.map(p => `${p.name}=${p.state}`).join(', ')
}
