import type { ClusterView, ViewChange } from '../membership/view.js'
import type { Member } from '../membership/types.js'
import type { ClusterJson, ListedNodeJson, PeerJson } from '../api/cluster-json.js'

// Kept for importers written before the shapes moved to api/cluster-json.ts.
export type { ClusterJson, PeerJson } from '../api/cluster-json.js'

export function memberJson (member: Member, selfId: string, now: number, latencyMs?: number): PeerJson {
  const a = member.announcement
  return {
    peer_id: member.peerId,
    name: a.name,
    wanted_name: a.wanted_name ?? null,
    self: member.peerId === selfId,
    state: member.state,
    reason: member.reason,
    models: a.models,
    unserved: a.unserved ?? null,
    tier: a.tier,
    enabled: a.enabled,
    load: a.load,
    api_port: a.api_port,
    addrs: a.addrs,
    version: a.version,
    incarnation: a.incarnation,
    last_seen_ms: Math.max(0, now - member.lastHeard),
    state_since: new Date(member.stateSince).toISOString(),
    // Hundredths of a millisecond: a loopback or LAN round trip is a fraction of one
    latency_ms: latencyMs != null ? Math.round(latencyMs * 100) / 100 : null
  }
}

export function clusterJson (
  view: ClusterView,
  self: ClusterJson['self'],
  now: number,
  latencies: ReadonlyMap<string, number>,
  nodes: ListedNodeJson[] = []
): ClusterJson {
  const peers = [...view.members.values()]
    .map(m => memberJson(m, view.self, now, latencies.get(m.peerId)))
    .sort((a, b) => a.name.localeCompare(b.name) || a.peer_id.localeCompare(b.peer_id))
  return { self, generated_at: new Date(now).toISOString(), peers, nodes }
}

export function changeJson (change: ViewChange, selfId: string, now: number): Record<string, unknown> {
  return {
    kind: change.kind,
    peer_id: change.peerId,
    ...(change.kind === 'state' ? { from: change.from, to: change.to } : {}),
    peer: memberJson(change.member, selfId, now)
  }
}
