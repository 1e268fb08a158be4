import { createPeerHttpBackend } from '../client/peer-http-backend.js'
import { CLUSTER_VIEW, fetchJson, tokenFrom } from './http-get.js'
import { renderTable } from './table.js'
import { painter, shortId, shouldColor, stateStyle } from './format.js'
import type { ClusterJson } from '../api/cluster-json.js'
import { rowHealth, unservedPhrase, statusRows, type RowSource, type RowState } from './status-rows.js'

export interface TestFlags {
  api: string
  token?: string
  json?: boolean
}

interface PeerCheck {
  name: string
  peer_id: string | null
  source: RowSource
  state: RowState
  /** Mesh round trip for a peer in the view; the HTTP check's round trip for a node reached only over HTTP. */
  latency_ms: number | null
  completion_ms: number | null
  ok: boolean
  detail: string
}

/** Bound for each one-token completion: a cold backend may load a model first. */
const COMPLETION_TIMEOUT_MS = 60_000
/** A peer started moments ago may not have checked its listed nodes yet: wait this long for the first checks. */
const FIRST_CHECKS_WAIT_MS = 5_000
const FIRST_CHECKS_POLL_MS = 250

/**
 * For every peer in the view and every node of the cluster file: round trip and a one-token
 * completion pinned to it (through the peer at --api, which reaches a listed node over the mesh or,
 * failing that, over HTTP with the node's auth_token).
 */
export async function runTest (flags: TestFlags): Promise<number> {
  const token = tokenFrom(flags.token)
  const cluster = await viewAfterFirstChecks(flags.api, token)
  const client = createPeerHttpBackend({ baseUrl: flags.api, token })
  const checks: PeerCheck[] = []
  try {
    for (const row of statusRows(cluster)) {
      const check: PeerCheck = { name: row.name, peer_id: row.peer_id, source: row.source, state: row.state, latency_ms: row.self ? 0 : row.latency_ms, completion_ms: null, ok: false, detail: '' }
      checks.push(check)
      // The same rule as `status` (rowHealth): a peer that left on purpose is no failure; one that
      // answers without a model it is listed or announced with is, named with its reason.
      const health = rowHealth(row)
      if (health.code === 'skipped') {
        check.ok = true
        check.detail = `${health.reason} (skipped)`
      } else if (health.code === 'down') {
        check.detail = `${row.state}: ${health.reason}`
      } else if (health.code === 'unserved') {
        check.detail = `not serving ${unservedPhrase(health)}`
      } else if (row.models.length === 0) {
        check.ok = true
        check.detail = 'routing only (no model)'
      } else {
        // A node reached over HTTP only has no peer id in the view: it is pinned by name.
        const pin = row.state === 'alive' && row.peer_id != null ? row.peer_id : row.name
        const started = performance.now()
        try {
          const answer = await client.complete(
            { messages: [{ role: 'user', content: 'ping' }], model: row.models[0], max_tokens: 1, peer: pin },
            { signal: AbortSignal.timeout(COMPLETION_TIMEOUT_MS) }
          )
          check.completion_ms = Math.round(performance.now() - started)
          check.ok = answer.node.peer_id === pin || answer.node.name === row.name
          check.detail = check.ok ? `${answer.model}: ${answer.usage.completion_tokens} token(s)` : `served by ${answer.node.name} instead`
        } catch (err: any) {
          check.detail = err?.message ?? String(err)
        }
      }
    }
  } finally {
    await client.close()
  }
  if (flags.json === true) {
    process.stdout.write(JSON.stringify({ ok: checks.every(c => c.ok), peers: checks }, null, 2) + '\n')
  } else {
    const paint = painter(shouldColor(process.stdout))
    const rows = checks.map(c => [c.ok ? paint('green', 'ok') : paint('red', 'FAIL'), c.name, c.peer_id != null ? shortId(c.peer_id) : '-', paint(stateStyle(c.state), c.state), c.source, c.latency_ms != null ? `${c.latency_ms} ms` : '-', c.completion_ms != null ? `${c.completion_ms} ms` : '-', c.detail])
    process.stdout.write(renderTable(['RESULT', 'NAME', 'PEER', 'STATE', 'SOURCE', 'RTT', 'COMPLETION', 'DETAIL'], rows) + '\n')
    const failed = checks.filter(c => !c.ok).map(c => c.name)
    process.stdout.write(failed.length > 0 ? `\n${failed.length} of ${checks.length} failed: ${failed.join(', ')}\n` : `\nall ${checks.length} ok\n`)
  }
  return checks.every(c => c.ok) ? 0 : 1
}

/** The view, once no listed node is still waiting for its first check (bounded). */
async function viewAfterFirstChecks (api: string, token: string | undefined): Promise<ClusterJson> {
  const deadline = Date.now() + FIRST_CHECKS_WAIT_MS
  for (;;) {
    const cluster = await fetchJson<ClusterJson>(api, '/api/cluster', { token, expect: CLUSTER_VIEW })
    if (!(cluster.nodes ?? []).some(n => n.state === 'checking') || Date.now() >= deadline) return cluster
    await new Promise(resolve => setTimeout(resolve, FIRST_CHECKS_POLL_MS))
  }
}
