import type { ClusterJson, ListedNodeJson, PeerJson } from '../api/cluster-json.js'
import { sameModel } from '../backends/served-models.js'

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
  /** What the peer announces it should serve but does not, and why (null: nothing, or not in the mesh). */
  unserved: PeerJson['unserved']
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
      unserved: live ? peer.unserved ?? null : null,
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
    unserved: peer.unserved ?? null,
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

/**
 * How a row stands: one rule for `status` (exit code), `test` and `models` (issue 27).
 * - `skipped`: disabled, left on purpose, or not checked yet: nothing to fix;
 * - `down`: enabled and not answering (suspect, dead, unreachable);
 * - `unserved`: it answers, but does not serve a model it is listed with (cluster file) or
 *   announces it should serve (a backend that is down, a model pulled away), with the reason;
 * - `ok`.
 */
export type RowHealth =
  | { code: 'ok' }
  | { code: 'skipped', reason: string }
  | { code: 'down', reason: string }
  | { code: 'unserved', models: string[], reason: string }

export type HealthInput = Pick<StatusRow, 'enabled' | 'state' | 'reason' | 'models' | 'unserved'> & { node?: Pick<ListedNodeJson, 'models'>, peer?: Pick<PeerJson, 'state'> }

/** Pure: the row's health (table-tested in test/unit/row-health.test.ts). */
export function rowHealth (row: HealthInput): RowHealth {
  if (!row.enabled || row.state === 'disabled') return { code: 'skipped', reason: 'disabled' }
  if (row.state === 'left') return { code: 'skipped', reason: 'left the cluster' }
  if (row.state === 'checking') return { code: 'skipped', reason: 'first check under way' }
  if (row.state === 'suspect' || row.state === 'dead' || row.state === 'unreachable') return { code: 'down', reason: row.reason }
  // Alive in the mesh, or reachable over HTTP only (then only the file says what it serves).
  const inMesh = row.peer?.state === 'alive'
  const listedMissing = inMesh && row.node != null ? row.node.models.filter(m => !row.models.some(s => sameModel(s, m))) : []
  if (row.unserved == null && listedMissing.length === 0) return { code: 'ok' }
  const models = [...new Set([...listedMissing, ...(row.unserved?.models ?? [])])]
  const reason = row.unserved?.reason ?? (row.models.length > 0 ? `serves ${row.models.join(', ')} instead` : 'serves no model')
  return { code: 'unserved', models, reason }
}

/** A row `status` and `test` fail on: not answering, or not serving what it should. */
export function rowFails (row: HealthInput): boolean {
  const health = rowHealth(row)
  return health.code === 'down' || health.code === 'unserved'
}

/** "qwen2.5:3b: backend down: …": what is not served and why, in one phrase. */
export function unservedPhrase (health: Extract<RowHealth, { code: 'unserved' }>): string {
  return `${health.models.length > 0 ? `${health.models.join(', ')}: ` : ''}${health.reason}`
}

/** "laptop (qwen2.5:3b: backend down: …)", for summary lines. */
export function describeUnserved (name: string, health: Extract<RowHealth, { code: 'unserved' }>): string {
  return `${name} (${unservedPhrase(health)})`
}
