import type { ClusterJson, PeerJson } from '../../src/api/cluster-json.js'

export { waitForView } from '../../src/wait-for-view.js'

export function stateOf (cluster: ClusterJson, peerId: string): PeerJson['state'] | undefined {
  return cluster.peers.find(p => p.peer_id === peerId)?.state
}

/** Polls `check` every 10 ms until it holds: for state that changes without a view event (our own live load). */
export async function pollUntil (check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 10))
  }
}
