import type { ListedNode, NodeCheck } from '../client/listed-nodes.js'
import type { Member } from '../membership/types.js'
import type { ListedNodeJson } from '../api/cluster-json.js'

// Kept for importers written before the shapes moved to api/cluster-json.ts.
export type { ListedNodeJson, ListedNodeState } from '../api/cluster-json.js'

export interface ListedNodeInputs {
  node: ListedNode
  selfName: string
  selfId: string
  /** The last HTTP check of the node, if any came back. */
  check?: NodeCheck
  /** Mesh members announcing the node's name (a restarted node may be listed twice, once dead). */
  members: readonly Member[]
}

/** Pure: the node's row from what the mesh and the last HTTP check say. */
export function listedNodeJson ({ node, selfName, selfId, check, members }: ListedNodeInputs): ListedNodeJson {
  const base = {
    name: node.name,
    host: node.host,
    port: node.port,
    models: node.models ?? [],
    tier: node.tier ?? 0,
    enabled: node.enabled !== false,
    self: node.name === selfName,
    latency_ms: check?.latencyMs ?? null,
    last_error: null
  }
  if (node.enabled === false) {
    return { ...base, state: 'disabled', reason: 'enabled: false in the cluster file', peer_id: null, latency_ms: null, since: null }
  }
  if (base.self) {
    return { ...base, state: 'alive', reason: 'this peer', peer_id: selfId, latency_ms: null, since: null }
  }
  const alive = members.find(m => m.state === 'alive')
  if (alive != null) {
    return { ...base, state: 'alive', reason: 'in the mesh', peer_id: alive.peerId, since: new Date(alive.stateSince).toISOString() }
  }
  const peerId = check?.peerId ?? members[0]?.peerId ?? null
  if (check == null) {
    return { ...base, state: 'checking', reason: 'first check under way', peer_id: peerId, since: null }
  }
  const since = new Date(check.since).toISOString()
  if (check.ok) {
    return { ...base, state: 'reachable', reason: 'its API answers; no mesh connection (requests go over HTTP)', peer_id: peerId, since }
  }
  const error = check.error ?? 'no answer'
  return { ...base, state: 'unreachable', reason: error, peer_id: peerId, since, last_error: error }
}

/** Every node of the cluster file, in file order, with the members that announce its name. */
export function listedNodesJson (
  nodes: readonly ListedNode[],
  checks: ReadonlyMap<string, NodeCheck>,
  members: Iterable<Member>,
  self: { name: string, peerId: string }
): ListedNodeJson[] {
  const byName = new Map<string, Member[]>()
  for (const m of members) {
    const list = byName.get(m.announcement.name) ?? []
    list.push(m)
    byName.set(m.announcement.name, list)
  }
  return nodes.map(node => listedNodeJson({
    node,
    selfName: self.name,
    selfId: self.peerId,
    check: checks.get(node.name),
    members: byName.get(node.name) ?? []
  }))
}

/** An enabled node that does not answer: `status` and `test` fail on it. */
export function isNodeDown (node: Pick<ListedNodeJson, 'enabled' | 'state'>): boolean {
  return node.enabled && node.state === 'unreachable'
}
