import type { Peer } from '../../src/peer.js'
import type { ClusterJson, PeerJson } from '../../src/http/cluster-json.js'

/**
 * Resolves when `predicate` holds for the peer's cluster view, re-checking on every view
 * change (no polling sleeps). Rejects after `timeoutMs` with the view it last saw.
 */
export async function waitForView (peer: Peer, predicate: (cluster: ClusterJson) => boolean, timeoutMs: number, what = 'condition'): Promise<ClusterJson> {
  const check = (): ClusterJson | undefined => {
    const cluster = peer.cluster()
    return predicate(cluster) ? cluster : undefined
  }
  const now = check()
  if (now != null) return now
  return await new Promise<ClusterJson>((resolve, reject) => {
    const timer = setTimeout(() => {
      unsubscribe()
      reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what} on ${peer.info().name}; view: ${describe(peer.cluster())}`))
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

export function stateOf (cluster: ClusterJson, peerId: string): PeerJson['state'] | undefined {
  return cluster.peers.find(p => p.peer_id === peerId)?.state
}

export function describe (cluster: ClusterJson): string {
  return cluster.peers.map(p => `${p.name}=${p.state}`).join(', ')
}
