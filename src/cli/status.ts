import { fetchJson } from './http-get.js'
import { CommandFailedError } from './errors.js'
import { renderTable } from './table.js'
import type { ClusterJson, PeerJson } from '../http/cluster-json.js'
import { shortId } from './format.js'

export interface StatusFlags {
  api: string
  token?: string
  json?: boolean
}

/** Prints the cluster view of the peer at `--api`; exit 1 when any enabled peer is not alive. */
export async function runStatus (flags: StatusFlags): Promise<number> {
  const cluster = await fetchJson<ClusterJson>(flags.api, '/api/cluster', flags.token ?? process.env.HAROMBE_TOKEN)
  if (!Array.isArray(cluster?.peers) || typeof cluster?.self?.name !== 'string') {
    throw new CommandFailedError(`${flags.api} answered /api/cluster without a cluster view — is this a harombe peer API?`)
  }
  if (flags.json === true) {
    process.stdout.write(JSON.stringify(cluster, null, 2) + '\n')
  } else {
    process.stdout.write(formatStatus(cluster) + '\n')
  }
  return cluster.peers.some(p => p.enabled && p.state !== 'alive') ? 1 : 0
}

export function formatStatus (cluster: ClusterJson): string {
  const rows = cluster.peers.map((p: PeerJson) => [
    p.self ? `${p.name} *` : p.name,
    shortId(p.peer_id),
    p.models.length > 0 ? p.models.join(', ') : '-',
    String(p.tier),
    p.enabled ? p.state : `${p.state} (disabled)`,
    `${p.load.active + p.load.queued}/${p.load.capacity}`,
    p.latency_ms != null ? `${p.latency_ms} ms` : '-',
    p.self ? 'now' : `${(p.last_seen_ms / 1000).toFixed(1)} s ago`
  ])
  const alive = cluster.peers.filter(p => p.state === 'alive').length
  return [
    renderTable(['NAME', 'PEER', 'MODELS', 'TIER', 'STATE', 'LOAD', 'LATENCY', 'LAST SEEN'], rows),
    '',
    `${alive}/${cluster.peers.length} alive · view of ${cluster.self.name} (${cluster.self.api}) · * = that peer`
  ].join('\n')
}
