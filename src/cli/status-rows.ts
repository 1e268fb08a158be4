import type { ClusterJson, ListedNodeJson, PeerJson } from '../api/cluster-json.js'

/** Where a row comes from: the cluster file, the mesh view, or both (one node, one row). */
export type RowSource = 'file' | 'mesh' | 'file+mesh'

export type RowState = PeerJson['state'] | ListedNodeJson['state']

/** One row of `status`, `test` and the dashboard: a mesh peer, a listed node, or both merged. */
export interface StatusRow {
  name: string
  self: boolean
  source: RowSource
  peer_id: string | null
  models: string[]
  tier: number
  enabled: boolean
  state: RowState
  reason: string
  load: PeerJson['load'] | null
  latency_ms: number | null
  /** Milliseconds since the peer was last heard in the mesh; null for a node known only from the file. */
  last_seen_ms: number | null
  /** The peer's row in the view, when the mesh knows it. */
  peer?: PeerJson
  /** The node's row from the cluster file, when listed. */
  node?: ListedNodeJson
}

/**
 * Pure: the view's peers and the cluster file's nodes as one list. A node is merged with the
 * mesh peer of the same name (the alive one when a restarted node left an old id behind); its
 * state is the node's, which already counts the mesh. File rows come first, in file order, then
 * peers the file does not list, by name.
 */
export function statusRows (cluster: Pick<ClusterJson, 'peers'> & { nodes?: ClusterJson['nodes'] }): StatusRow[] {
  const nodes = cluster.nodes ?? []
  const listed = new Set(nodes.map(n => n.name))
  const fileRows = nodes.map(node => {
    const same = cluster.peers.filter(p => p.name === node.name)
    const peer = same.find(p => p.state === 'alive') ?? same[0]
    const live = peer != null && node.state === 'alive'
    return {
      name: node.name,
      self: node.self,
      source: peer != null ? 'file+mesh' : 'file',
      peer_id: peer?.peer_id ?? node.peer_id,
      // What it really announces when the mesh has it; else what the file says it should serve
      models: live ? peer.models : node.models,
      tier: live ? peer.tier : node.tier,
      enabled: node.enabled,
      state: node.state,
      reason: node.reason,
      load: live ? peer.load : null,
      latency_ms: peer?.latency_ms ?? node.latency_ms,
      last_seen_ms: peer?.last_seen_ms ?? null,
      peer,
      node
    } satisfies StatusRow
  })
  const meshRows = cluster.peers.filter(p => !listed.has(p.name)).map(peer => ({
    name: peer.name,
    self: peer.self,
    source: 'mesh',
    peer_id: peer.peer_id,
    models: peer.models,
    tier: peer.tier,
    enabled: peer.enabled,
    state: peer.state,
    reason: peer.reason,
    load: peer.load,
    latency_ms: peer.latency_ms,
    last_seen_ms: peer.last_seen_ms,
    peer
  } satisfies StatusRow))
  return [...fileRows, ...meshRows]
}

/** An enabled peer or listed node that stopped answering; a peer that left, or a disabled one, is no failure. */
export function rowFails (row: Pick<StatusRow, 'enabled' | 'state'>): boolean {
  return row.enabled && (row.state === 'suspect' || row.state === 'dead' || row.state === 'unreachable')
}
