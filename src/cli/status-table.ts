import type { ClusterJson } from '../api/cluster-json.js'
import { renderTable } from './table.js'
import { describeUnserved, rowHealth, statusRows } from './status-rows.js'
import { painter, shortId, stateStyle, type Paint } from './format.js'

/**
 * Pure: peers that share a name, or took another because theirs was held (issue 27: two peers
 * started without --name on one host are both called after it). Only live peers hold a name.
 */
export function nameClashes (peers: readonly Pick<ClusterJson['peers'][number], 'name' | 'wanted_name' | 'peer_id' | 'state'>[]): string[] {
  const live = peers.filter(p => p.state === 'alive' || p.state === 'suspect')
  const lines: string[] = []
  for (const p of live) {
    if (p.wanted_name == null || p.wanted_name === p.name) continue
    const holder = live.find(h => h.name === p.wanted_name && h.peer_id !== p.peer_id)
    lines.push(`${p.name} (${shortId(p.peer_id)}) was started as "${p.wanted_name}"${holder != null ? `, which ${shortId(holder.peer_id)} holds` : ''}`)
  }
  const byName = new Map<string, string[]>()
  for (const p of live) byName.set(p.name, [...(byName.get(p.name) ?? []), p.peer_id])
  for (const [name, ids] of byName) {
    if (ids.length > 1) lines.push(`"${name}" is announced by ${ids.length} peers (${ids.map(shortId).join(', ')})`)
  }
  return lines
}

/** The status table and its summary line; `paint` colours state words (identity when colour is off). */
export function formatStatus (cluster: ClusterJson, paint: Paint = painter(false)): string {
  const rows = statusRows(cluster)
  const withFile = (cluster.nodes ?? []).length > 0
  const table = rows.map(r => [
    r.self ? `${r.name} *` : r.name,
    r.peer_id != null ? shortId(r.peer_id) : '-',
    r.models.length > 0 ? r.models.join(', ') : '-',
    String(r.tier),
    paint(stateStyle(r.state), r.state) + (r.enabled || r.state === 'disabled' ? '' : ' (disabled)'),
    r.load != null ? `${r.load.active + r.load.queued}/${r.load.capacity}` : '-',
    r.latency_ms != null ? `${r.latency_ms} ms` : '-',
    r.self ? 'now' : r.last_seen_ms != null ? `${(r.last_seen_ms / 1000).toFixed(1)} s ago` : '-',
    ...(withFile ? [r.source] : [])
  ])
  const alive = rows.filter(r => r.state === 'alive').length
  const failing: string[] = []
  const unserved: string[] = []
  for (const r of rows) {
    const health = rowHealth(r)
    if (health.code === 'down') failing.push(`${r.name} (${health.reason})`)
    else if (health.code === 'unserved') unserved.push(describeUnserved(r.name, health))
  }
  return [
    renderTable(['NAME', 'PEER', 'MODELS', 'TIER', 'STATE', 'LOAD', 'LATENCY', 'LAST SEEN', ...(withFile ? ['SOURCE'] : [])], table),
    '',
    `${alive}/${rows.length} alive · view of ${cluster.self.name} (${cluster.self.api}) · * = that peer` +
      (withFile ? ' · SOURCE: file = cluster file, mesh = found in the mesh' : ''),
    ...(cluster.self.backends != null ? [`backends of ${cluster.self.name}: ${cluster.self.backends}`] : []),
    ...(failing.length > 0 ? [`not answering: ${failing.join('; ')}`] : []),
    ...(unserved.length > 0 ? [`not serving: ${unserved.join('; ')}`] : []),
    ...nameClashes(cluster.peers).map(line => `name clash: ${line}`)
  ].join('\n')
}
