import type { ClusterJson, PeerJson } from '../../src/http/cluster-json.js'

export { waitForView } from '../../src/wait-for-view.js'

export function stateOf (cluster: ClusterJson, peerId: string): PeerJson['state'] | undefined {
  return cluster.peers.find(p => p.peer_id === peerId)?.state
}
