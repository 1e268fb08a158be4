import { createRemoteClient } from '../client/remote-client.js'
import { CLUSTER_VIEW, fetchJson, tokenFrom } from './http-get.js'
import { renderTable } from './table.js'
import { painter, shortId, shouldColor, stateStyle } from './format.js'
import type { ClusterJson, PeerJson } from '../http/cluster-json.js'

export interface TestFlags {
  api: string
  token?: string
  json?: boolean
}

interface PeerCheck {
  name: string
  peer_id: string
  state: PeerJson['state']
  mesh_latency_ms: number | null
  completion_ms: number | null
  ok: boolean
  detail: string
}

/** Bound for each one-token completion: a cold backend may load a model first. */
const COMPLETION_TIMEOUT_MS = 60_000

/** For every peer in the view: mesh round trip and a one-token completion pinned to it. */
export async function runTest (flags: TestFlags): Promise<number> {
  const token = tokenFrom(flags.token)
  const cluster = await fetchJson<ClusterJson>(flags.api, '/api/cluster', { token, expect: CLUSTER_VIEW })
  const client = createRemoteClient({ baseUrl: flags.api, token })
  const checks: PeerCheck[] = []
  try {
    for (const peer of cluster.peers) {
      const check: PeerCheck = { name: peer.name, peer_id: peer.peer_id, state: peer.state, mesh_latency_ms: peer.self ? 0 : peer.latency_ms, completion_ms: null, ok: false, detail: '' }
      checks.push(check)
      if (!peer.enabled) {
        check.ok = true
        check.detail = 'disabled (skipped)'
      } else if (peer.state !== 'alive') {
        check.detail = `${peer.state}: ${peer.reason}`
      } else if (peer.models.length === 0) {
        check.ok = true
        check.detail = 'routing only (no model)'
      } else {
        const started = performance.now()
        try {
          const answer = await client.complete(
            { messages: [{ role: 'user', content: 'ping' }], model: peer.models[0], max_tokens: 1, peer: peer.peer_id },
            { signal: AbortSignal.timeout(COMPLETION_TIMEOUT_MS) }
          )
          check.completion_ms = Math.round(performance.now() - started)
          check.ok = answer.node.peer_id === peer.peer_id
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
    const rows = checks.map(c => [c.ok ? paint('green', 'ok') : paint('red', 'FAIL'), c.name, shortId(c.peer_id), paint(stateStyle(c.state), c.state), c.mesh_latency_ms != null ? `${c.mesh_latency_ms} ms` : '-', c.completion_ms != null ? `${c.completion_ms} ms` : '-', c.detail])
    process.stdout.write(renderTable(['RESULT', 'NAME', 'PEER', 'STATE', 'MESH RTT', 'COMPLETION', 'DETAIL'], rows) + '\n')
  }
  return checks.every(c => c.ok) ? 0 : 1
}
