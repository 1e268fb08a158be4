import { checkApiUrl, CLUSTER_VIEW, fetchJson, tokenFrom } from './http-get.js'
import { UsageError } from './errors.js'
import { DEFAULT_WATCH_INTERVAL_MS } from './defaults.js'
import { renderTable } from './table.js'
import type { ClusterJson, PeerJson } from '../http/cluster-json.js'
import { painter, shortId, shouldColor, stateStyle, type Paint } from './format.js'

export interface StatusFlags {
  api: string
  token?: string
  json?: boolean
  watch?: boolean
  /** Milliseconds between refreshes with --watch (commander gives the raw text). */
  interval?: string
}

/** Below this a refresh could not finish before the next one starts. */
const MIN_WATCH_INTERVAL_MS = 100

/** Prints the cluster view of the peer at `--api`; exit 1 when any enabled peer is suspect or dead. */
export async function runStatus (flags: StatusFlags): Promise<number> {
  const intervalMs = parseInterval(flags.interval)
  const token = tokenFrom(flags.token)
  if (flags.watch === true) {
    checkApiUrl(flags.api)
    const { runWatch } = await import('./watch.js')
    return await runWatch({ api: flags.api, token, json: flags.json === true, intervalMs })
  }
  if (flags.interval != null) throw new UsageError('--interval: only with --watch')
  const cluster = await fetchJson<ClusterJson>(flags.api, '/api/cluster', { token, expect: CLUSTER_VIEW })
  if (flags.json === true) {
    process.stdout.write(JSON.stringify(cluster, null, 2) + '\n')
  } else {
    process.stdout.write(formatStatus(cluster, painter(shouldColor(process.stdout))) + '\n')
  }
  return statusExitCode(cluster)
}

/** 1 when an enabled peer stopped answering; a peer that left cleanly, or a disabled one, is no failure. */
export function statusExitCode (cluster: Pick<ClusterJson, 'peers'>): 0 | 1 {
  return cluster.peers.some(p => p.enabled && (p.state === 'suspect' || p.state === 'dead')) ? 1 : 0
}

function parseInterval (text: string | undefined): number {
  if (text == null) return DEFAULT_WATCH_INTERVAL_MS
  const ms = Number(text)
  if (!Number.isInteger(ms) || ms < MIN_WATCH_INTERVAL_MS) throw new UsageError(`--interval: expected milliseconds, an integer of at least ${MIN_WATCH_INTERVAL_MS}`)
  return ms
}

/** The status table and its summary line; `paint` colours state words (identity when colour is off). */
export function formatStatus (cluster: ClusterJson, paint: Paint = painter(false)): string {
  const rows = cluster.peers.map((p: PeerJson) => [
    p.self ? `${p.name} *` : p.name,
    shortId(p.peer_id),
    p.models.length > 0 ? p.models.join(', ') : '-',
    String(p.tier),
    paint(stateStyle(p.state), p.state) + (p.enabled ? '' : ' (disabled)'),
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
