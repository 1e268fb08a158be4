import { checkApiUrl, CLUSTER_VIEW, fetchJson, tokenFrom } from './http-get.js'
import { UsageError } from './errors.js'
import { DEFAULT_WATCH_INTERVAL_MS } from './defaults.js'
import type { ClusterJson } from '../api/cluster-json.js'
import { rowFails, statusRows } from './status-rows.js'
import { painter, shouldColor } from './format.js'
import { formatStatus } from './status-table.js'

// The table is its own module: `status --watch` (watch.ts) draws it too, and status.ts imports watch.ts.
export { formatStatus, nameClashes } from './status-table.js'

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

/**
 * 1 when an enabled peer or listed node stopped answering, or answers without a model it is listed
 * or announced with; a clean leave, or a disabled one, is no failure (rowHealth).
 */
export function statusExitCode (cluster: Pick<ClusterJson, 'peers'> & { nodes?: ClusterJson['nodes'] }): 0 | 1 {
  return statusRows(cluster).some(rowFails) ? 1 : 0
}

function parseInterval (text: string | undefined): number {
  if (text == null) return DEFAULT_WATCH_INTERVAL_MS
  const ms = Number(text)
  if (!Number.isInteger(ms) || ms < MIN_WATCH_INTERVAL_MS) throw new UsageError(`--interval: expected milliseconds, an integer of at least ${MIN_WATCH_INTERVAL_MS}`)
  return ms
}
