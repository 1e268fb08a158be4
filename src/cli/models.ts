import type { ModelInfo } from '../completion/service.js'
import type { ClusterJson } from '../api/cluster-json.js'
import { CLUSTER_VIEW, fetchJson, tokenFrom } from './http-get.js'
import { renderTable } from './table.js'
import { rowHealth, statusRows, type RowState } from './status-rows.js'

export interface ModelsFlags {
  api: string
  token?: string
  json?: boolean
}

/** A node serving (or listed as serving) a model, with its state as the asked peer sees it. */
export interface ModelNode {
  name: string
  peer_id: string | null
  tier: number
  state: RowState
  /** Why it does not serve this model though it is listed or announced with it (issue 27). */
  problem?: string
}

export interface ModelRow {
  name: string
  nodes: ModelNode[]
}

const MODEL_LIST = { what: 'a model list', test: (body: any): boolean => Array.isArray(body?.models) }

/**
 * Pure: the models alive peers serve, plus the cluster file's nodes under the models the file
 * gives them while they are not serving (unreachable, disabled, still being checked), and peers
 * that answer without a model they are listed or announced with, with the reason (rowHealth, the
 * rule status and test apply), so a user sees what the cluster should hold and what is missing.
 */
export function modelRows (served: readonly ModelInfo[], nodes: ClusterJson['nodes'], peers: ClusterJson['peers'] = []): ModelRow[] {
  const stateOf = new Map(nodes.map(n => [n.name, n.state]))
  const rows = new Map<string, ModelNode[]>(served.map(m => [m.name, m.nodes.map(n => ({
    name: n.name,
    peer_id: n.peer_id.startsWith('http:') ? null : n.peer_id,
    tier: n.tier,
    // A listed node reached over HTTP only is served, but not through the mesh
    state: stateOf.get(n.name) === 'reachable' ? 'reachable' : 'alive'
  }))]))
  for (const node of nodes) {
    if (node.state === 'alive' || node.state === 'reachable') continue
    for (const model of node.models) {
      const list = rows.get(model) ?? []
      if (!list.some(n => n.name === node.name)) list.push({ name: node.name, peer_id: node.peer_id, tier: node.tier, state: node.state })
      rows.set(model, list)
    }
  }
  // Peers that answer without a model they are listed or announced with: under that model, with why.
  for (const row of statusRows({ peers, nodes })) {
    const health = rowHealth(row)
    if (health.code !== 'unserved') continue
    for (const model of health.models) {
      const list = rows.get(model) ?? []
      if (!list.some(n => n.name === row.name)) list.push({ name: row.name, peer_id: row.peer_id, tier: row.tier, state: row.state, problem: health.reason })
      rows.set(model, list)
    }
  }
  return [...rows.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([name, list]) => ({ name, nodes: list }))
}

/** Every model served by an alive peer, with the peers and tiers that serve it, and the listed nodes that should. */
export async function runModels (flags: ModelsFlags): Promise<void> {
  const token = tokenFrom(flags.token)
  const [{ models }, cluster] = await Promise.all([
    fetchJson<{ models: ModelInfo[] }>(flags.api, '/api/models', { token, expect: MODEL_LIST }),
    fetchJson<ClusterJson>(flags.api, '/api/cluster', { token, expect: CLUSTER_VIEW })
  ])
  const rows = modelRows(models, cluster.nodes ?? [], cluster.peers)
  if (flags.json === true) {
    process.stdout.write(JSON.stringify(rows, null, 2) + '\n')
    return
  }
  if (rows.length === 0) {
    process.stdout.write('no alive peer serves a model yet\n')
    return
  }
  const table = rows.map(m => [
    m.name,
    m.nodes.map(n => n.problem != null ? `${n.name} (${n.problem})` : n.state === 'alive' ? n.name : `${n.name} (${n.state})`).join(', '),
    [...new Set(m.nodes.map(n => n.tier))].sort().join(', ')
  ])
  process.stdout.write(renderTable(['MODEL', 'PEERS', 'TIERS'], table) + '\n')
}
