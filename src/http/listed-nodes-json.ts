import type { ListedNode, NodeCheck } from '../client/listed-nodes.js'
import type { Member } from '../membership/types.js'

/**
 * A cluster-file node as this peer sees it:
 * - `alive`: in the mesh view and alive (this peer's own entry is always alive);
 * - `reachable`: its HTTP API answers, but the mesh does not (yet) reach it;
 * - `unreachable`: its API does not answer and the mesh holds it not alive;
 * - `checking`: started moments ago, the first check has not come back;
 * - `disabled`: `enabled: false` in the file; never dialed, polled or routed to.
 */
export type ListedNodeState = 'alive' | 'reachable' | 'unreachable' | 'checking' | 'disabled'

/** One node of the cluster file in `GET /api/cluster` (`nodes`). */
export interface ListedNodeJson {
  name: string
  host: string
  port: number
  /** What the file says it serves; the mesh view has what it really announces. */
  models: string[]
  tier: number
  enabled: boolean
  /** This peer's own entry. */
  self: boolean
  state: ListedNodeState
  reason: string
  peer_id: string | null
  /** Round trip of the last HTTP check. */
  latency_ms: number | null
  /** When the state last changed, as far as this peer knows. */
  since: string | null
  last_error: string | null
}

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
