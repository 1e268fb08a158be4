import assert from 'node:assert/strict'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { createMeshNode, type MeshNode } from '../../src/mesh/node.js'
import { SWIM_PROTOCOL } from '../../src/mesh/constants.js'
import * as lp from 'it-length-prefixed'
import { ask, createCluster, MODEL, postJson, sseData, tokensOf, within, type ClusterNode } from '../helpers/cluster.js'

const TOKEN = 'secret'
const AUTH = { authorization: `Bearer ${TOKEN}` }

interface Sample { name: string, labels: Record<string, string>, value: number }

const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*'
const LABEL = '([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\\\\n]|\\\\[\\\\"n])*)"'
const SAMPLE_LINE = new RegExp(`^(${NAME})(?:\\{((?:${LABEL},?)*)\\})? (\\S+)(?: -?\\d+)?$`)
// Prometheus reads values with Go's ParseFloat, which takes NaN and Inf in any case; prom-client writes `Nan`.
const VALUE = /^(?:[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|nan|[+-]inf)$/i

/**
 * Parses the Prometheus text format strictly: every line is a `# HELP`/`# TYPE` comment or
 * `name{labels} value`; anything else fails the test with the offending line.
 */
function parseExposition (text: string): Sample[] {
  const samples: Sample[] = []
  for (const line of text.split('\n')) {
    if (line === '') continue
    if (line.startsWith('#')) {
      assert.match(line, new RegExp(`^# (?:HELP ${NAME} .*|TYPE ${NAME} (?:counter|gauge|histogram|summary|untyped))$`), `bad comment line: ${line}`)
      continue
    }
    const m = SAMPLE_LINE.exec(line)
    assert.ok(m != null, `not a "name{labels} value" line: ${line}`)
    const [, name = '', labelText = '', , , raw = ''] = m
    assert.match(raw, VALUE, `bad value in: ${line}`)
    const labels: Record<string, string> = {}
    for (const l of labelText.matchAll(new RegExp(LABEL, 'g'))) labels[l[1] ?? ''] = l[2] ?? ''
    samples.push({ name, labels, value: /^[+-]inf$/i.test(raw) ? (raw.startsWith('-') ? -Infinity : Infinity) : Number(raw) })
  }
  return samples
}

/** The value of the sample with exactly these labels; 0 when absent (a counter not yet touched). */
function valueOf (samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  const want = Object.entries(labels)
  const found = samples.find(s => s.name === name && Object.keys(s.labels).length === want.length && want.every(([k, v]) => s.labels[k] === v))
  return found?.value ?? 0
}

function has (samples: Sample[], name: string, labels: Record<string, string> = {}): boolean {
  return samples.some(s => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
}

async function scrape (node: ClusterNode): Promise<Sample[]> {
  const res = await fetch(`${node.api}/metrics`, { headers: AUTH, signal: AbortSignal.timeout(5_000) })
  assert.equal(res.status, 200)
  assert.match(res.headers.get('content-type') ?? '', /text\/plain/)
  return parseExposition(await res.text())
}

async function recent (node: ClusterNode, query = ''): Promise<any[]> {
  const res = await fetch(`${node.api}/api/requests${query}`, { headers: AUTH, signal: AbortSignal.timeout(5_000) })
  assert.equal(res.status, 200, await res.clone().text())
  return (await res.json() as { requests: any[] }).requests
}

/** Re-checks `check` every 25 ms until it returns a value; for state only visible by asking over HTTP. */
async function eventually<T> (check: () => Promise<T | undefined>, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    const value = await check()
    if (value !== undefined) return value
    await new Promise(resolve => setTimeout(resolve, 25))
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
}

const FIELDS = new Set(['id', 'started_at', 'api', 'model', 'stream', 'outcome', 'error', 'served_by', 'attempts', 'route_reason', 'ttft_ms', 'duration_ms', 'completion_tokens', 'tokens_per_s', 'prompt_tokens', 'cached_tokens'])

/** The dashboard's contract for one entry: these names and types only. */
function assertRequestShape (r: any): void {
  for (const key of Object.keys(r)) assert.ok(FIELDS.has(key), `unexpected field ${key}`)
  assert.equal(typeof r.id, 'string')
  assert.equal(new Date(r.started_at).toISOString(), r.started_at, 'started_at is an ISO string')
  assert.ok(['openai', 'ollama', 'harombe'].includes(r.api), r.api)
  assert.equal(typeof r.model, 'string')
  assert.equal(typeof r.stream, 'boolean')
  assert.ok(['ok', 'error', 'aborted'].includes(r.outcome), r.outcome)
  assert.equal(typeof r.attempts, 'number')
  assert.ok(r.duration_ms >= 0)
  if (r.served_by != null) assert.deepEqual(Object.keys(r.served_by).sort(), ['name', 'peer_id', 'tier'])
  // Why the router chose the peer (issue 23): there whenever some peer was tried.
  if (r.attempts > 0) assert.ok(typeof r.route_reason === 'string' && r.route_reason.length > 0, `route_reason: ${String(r.route_reason)}`)
  for (const k of ['ttft_ms', 'completion_tokens', 'tokens_per_s', 'prompt_tokens', 'cached_tokens']) if (k in r) assert.equal(typeof r[k], 'number', k)
  if (r.outcome !== 'ok') assert.equal(typeof r.error, 'string', 'a failure says why')
}

describe('metrics and dashboard', function () {
  this.timeout(30_000)

  describe('with a tier-0 peer (a, token) and a tier-2 peer (b)', () => {
    const cluster = createCluster()
    let a: ClusterNode
    let b: ClusterNode

    before(async () => {
      [a, b] = await cluster.start([{ name: 'a', tier: 0, peer: { token: TOKEN } }, { name: 'b', tier: 2 }]) as [ClusterNode, ClusterNode]
    })
    after(async () => { await cluster.stop() })

    it('should export the cluster view, mesh connections, breakers and HTTP requests in Prometheus format', async () => {
      const before = await scrape(a)
      assert.equal((await fetch(`${a.api}/api/cluster`, { headers: AUTH })).status, 200)
      const after = await scrape(a)
      assert.equal(valueOf(after, 'harombe_peers', { state: 'alive' }), 2)
      assert.equal(valueOf(after, 'harombe_peers', { state: 'dead' }), 0)
      assert.ok(valueOf(after, 'harombe_mesh_connections') >= 1)
      // Streams: at least the membership protocol's, once a peer is connected (issue 25's soak reads it).
      assert.ok(has(after, 'harombe_mesh_streams'))
      assert.ok(has(after, 'harombe_heap_used_after_gc_bytes') && has(after, 'harombe_major_gcs_observed'))
      assert.equal(valueOf(after, 'harombe_http_requests_total', { route: '/api/cluster', status: '200' }) - valueOf(before, 'harombe_http_requests_total', { route: '/api/cluster', status: '200' }), 1)
      assert.ok(has(after, 'process_resident_memory_bytes'))
      assert.ok(has(after, 'harombe_local_load', { kind: 'queued' }), 'the local queue depth')
      assert.equal(valueOf(after, 'harombe_completion_in_flight'), 0)
      for (const n of [a, b]) {
        assert.ok(has(after, 'harombe_breaker_state', { peer: n.name, peer_id: n.id }), `breaker of ${n.name} listed`)
        assert.equal(valueOf(after, 'harombe_breaker_state', { peer: n.name, peer_id: n.id }), 0, `breaker of ${n.name} closed`)
      }
    })

    it('should list every bounded structure with its size within its limit (issue 25)', async () => {
      const samples = await scrape(a)
      const expected = [
        'membership.members', 'membership.rtt', 'membership.broadcasts', 'membership.stored-addrs', 'membership.hang-ups',
        'membership.channels', 'membership.topic-versions', 'membership.exchanged-at',
        'routing.prefix-blocks', 'routing.prefix-keys', 'routing.breakers', 'routing.in-flight',
        'completion.trailer-load', 'completion.peer-ids', 'completion.request-log',
        'protocol.pooled-streams', 'protocol.serving-streams',
        'mesh.connection-use', 'mesh.closed-on-purpose', 'mesh.key-warned',
        'embeddings.refusals', 'embeddings.pooled-streams', 'embeddings.serving-streams', 'http.event-subscribers', 'metrics.served-by-labels'
      ]
      const listed = samples.filter(s => s.name === 'harombe_bounded_limit').map(s => s.labels.structure).sort()
      assert.deepEqual(listed, [...expected].sort())
      for (const structure of expected) {
        const limit = valueOf(samples, 'harombe_bounded_limit', { structure })
        assert.ok(has(samples, 'harombe_bounded_size', { structure }), `${structure}: size listed`)
        assert.ok(limit > 0, `${structure}: a limit above 0`)
        assert.ok(valueOf(samples, 'harombe_bounded_size', { structure }) <= limit, `${structure}: within its limit`)
      }
      assert.equal(valueOf(samples, 'harombe_bounded_size', { structure: 'membership.members' }), 2, 'a and b')
      assert.equal(valueOf(samples, 'harombe_bounded_limit', { structure: 'completion.request-log' }), 100)
    })

    it('should move request, token, TTFT and served_by counters with completions served locally and remotely', async () => {
      const before = await scrape(a)
      // Tier 2 from the tier-0 peer: served by b over the mesh, streamed (hijacked response).
      const streamed = await postJson(`${a.api}/v1/chat/completions`, ask('who?', { tier: 2, stream: true }), { headers: AUTH })
      assert.equal(streamed.status, 200)
      assert.equal(streamed.headers.get('x-harombe-node'), 'b')
      assert.equal(sseData(await streamed.text()).at(-1), '[DONE]')
      // Tier 0, whole answer: served by a itself.
      const whole = await postJson(`${a.api}/api/complete`, ask('you?', { tier: 0 }), { headers: AUTH })
      assert.equal(whole.status, 200)
      assert.equal((await whole.json() as any).node.name, 'a')
      const after = await scrape(a)

      const moved = (name: string, labels: Record<string, string>): number => valueOf(after, name, labels) - valueOf(before, name, labels)
      assert.equal(moved('harombe_completion_requests_total', { api: 'openai', outcome: 'ok', served_by: 'b' }), 1, 'the streamed request, served by b')
      assert.equal(moved('harombe_completion_requests_total', { api: 'openai', outcome: 'ok', served_by: 'a' }), 0, 'not credited to a')
      assert.equal(moved('harombe_completion_requests_total', { api: 'harombe', outcome: 'ok', served_by: 'a' }), 1, 'the whole answer, served by a')
      assert.equal(moved('harombe_completion_tokens_total', { served_by: 'b' }), tokensOf('b').length)
      assert.equal(moved('harombe_completion_tokens_total', { served_by: 'a' }), tokensOf('a').length)
      assert.equal(moved('harombe_completion_ttft_seconds_count', { api: 'openai' }), 1, 'TTFT observed for the stream')
      assert.equal(moved('harombe_completion_ttft_seconds_count', { api: 'harombe' }), 0, 'no TTFT for a whole answer')
      assert.equal(moved('harombe_completion_duration_seconds_count', { api: 'harombe', outcome: 'ok' }), 1)
      assert.equal(moved('harombe_completion_retries_total', { api: 'openai' }), 0, 'no failover happened')
      assert.equal(moved('harombe_http_requests_total', { route: '/v1/chat/completions', status: '200' }), 1, 'the hijacked stream is counted')
      assert.equal(valueOf(after, 'harombe_completion_in_flight'), 0)
    })

    it('should list recent requests newest first, in the dashboard\'s shape, honouring limit', async () => {
      const sent: Array<{ path: string, body: Record<string, unknown>, api: string, stream: boolean }> = [
        { path: '/api/chat', body: ask('1', { stream: false }), api: 'ollama', stream: false },
        { path: '/v1/chat/completions', body: ask('2', { stream: true, tier: 2 }), api: 'openai', stream: true },
        { path: '/api/complete', body: ask('3'), api: 'harombe', stream: false }
      ]
      for (const s of sent) {
        const res = await postJson(`${a.api}${s.path}`, s.body, { headers: AUTH })
        assert.equal(res.status, 200, await res.clone().text())
        await res.text()
      }
      const list = await recent(a)
      assert.ok(list.length >= 3)
      list.forEach(assertRequestShape)
      const newest = list.slice(0, 3)
      assert.deepEqual(newest.map(r => [r.api, r.stream]), sent.reverse().map(s => [s.api, s.stream]), 'newest first')
      for (const r of newest) {
        assert.equal(r.outcome, 'ok')
        assert.equal(r.model, MODEL)
        assert.equal(r.attempts, 1)
        assert.equal(r.completion_tokens, 4)
        assert.ok(r.tokens_per_s > 0, 'a rate from tokens and time')
      }
      const stream = newest[1]
      assert.deepEqual(stream.served_by, { name: 'b', peer_id: b.id, tier: 2 })
      assert.ok(stream.ttft_ms >= 0 && stream.ttft_ms <= stream.duration_ms, `ttft ${stream.ttft_ms} within duration ${stream.duration_ms}`)
      assert.equal(newest[0].ttft_ms, undefined, 'no TTFT for a whole answer')
      assert.ok(Date.parse(newest[0].started_at) >= Date.parse(newest[2].started_at))
      assert.equal(new Set(list.map(r => r.id)).size, list.length, 'ids are unique')

      assert.deepEqual((await recent(a, '?limit=2')).map(r => r.id), list.slice(0, 2).map(r => r.id))
      assert.equal((await recent(a, '?limit=1000')).length, list.length, 'over the maximum is clamped, not refused')
      const bad = await fetch(`${a.api}/api/requests?limit=zero`, { headers: AUTH })
      assert.equal(bad.status, 400)
    })

    it('should record an unknown model as an error with no node and no attempt', async () => {
      const before = await scrape(a)
      const res = await postJson(`${a.api}/v1/chat/completions`, ask('hi', { model: 'no-such-model' }), { headers: AUTH })
      assert.equal(res.status, 404)
      const [r] = await recent(a, '?limit=1')
      assertRequestShape(r)
      assert.equal(r.outcome, 'error')
      assert.equal(r.model, 'no-such-model')
      assert.match(r.error, /no-such-model/)
      assert.equal(r.served_by, undefined)
      assert.equal(r.attempts, 0)
      const after = await scrape(a)
      assert.equal(valueOf(after, 'harombe_completion_requests_total', { api: 'openai', outcome: 'error', served_by: 'none' }) - valueOf(before, 'harombe_completion_requests_total', { api: 'openai', outcome: 'error', served_by: 'none' }), 1)
    })

    it('should record a client that leaves mid-stream as aborted, and count its HTTP response as 499', async () => {
      a.mock?.setBehavior({ tokenDelayMs: 300 })
      try {
        const before = await scrape(a)
        const controller = new AbortController()
        const res = await postJson(`${a.api}/api/chat`, ask('slow', { tier: 0 }), { headers: AUTH, signal: controller.signal })
        assert.equal(res.status, 200)
        const reader = res.body?.getReader()
        assert.ok(reader != null)
        await within(reader.read(), 5_000, 'the first streamed line')
        controller.abort()
        await reader.cancel().catch(() => {})

        const r = await eventually(async () => (await recent(a, '?limit=1')).find(x => x.outcome !== 'ok' && x.api === 'ollama'), 5_000, 'the aborted request in the journal')
        assertRequestShape(r)
        assert.equal(r.outcome, 'aborted')
        assert.equal(r.stream, true)
        assert.equal(r.served_by?.name, 'a', 'it had started on a')
        assert.ok(r.ttft_ms >= 0)
        const after = await eventually(async () => {
          const s = await scrape(a)
          return valueOf(s, 'harombe_http_requests_total', { route: '/api/chat', status: '499' }) > valueOf(before, 'harombe_http_requests_total', { route: '/api/chat', status: '499' }) ? s : undefined
        }, 5_000, 'the abandoned response counted as 499')
        assert.equal(valueOf(after, 'harombe_completion_requests_total', { api: 'ollama', outcome: 'aborted', served_by: 'a' }) - valueOf(before, 'harombe_completion_requests_total', { api: 'ollama', outcome: 'aborted', served_by: 'a' }), 1)
        assert.equal(valueOf(after, 'harombe_completion_in_flight'), 0)
      } finally {
        a.mock?.setBehavior({ tokenDelayMs: 0 })
      }
    })

    it('should count membership messages in and out, and a malformed one it rejects', async () => {
      const before = await scrape(a)
      // A bare libp2p node that speaks the membership protocol but sends garbage: only the decoder stands in its way.
      const liar: MeshNode = await createMeshNode({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'] })
      try {
        await liar.start()
        await liar.dial(a.peer.mesh().getMultiaddrs())
        const stream = await liar.dialProtocol(a.peer.mesh().peerId, SWIM_PROTOCOL, { signal: AbortSignal.timeout(5_000) })
        await stream.sink([lp.encode.single(new TextEncoder().encode('not a membership message'))]).catch(() => {})
        const moved = (s: Sample[], kind: string): boolean => valueOf(s, 'harombe_gossip_messages_total', { kind }) > valueOf(before, 'harombe_gossip_messages_total', { kind })
        await eventually(async () => moved(await scrape(a), 'rejected') ? true : undefined, 5_000, 'the garbage counted as rejected')
        // Probes run every 100 ms on the test profile; wait for each direction.
        await eventually(async () => moved(await scrape(a), 'in') ? true : undefined, 5_000, 'b\'s probes counted in')
        await eventually(async () => moved(await scrape(a), 'out') ? true : undefined, 5_000, 'a\'s probes counted out')
        assert.ok((await fetch(`${a.api}/healthz`)).ok, 'a keeps serving')
      } finally {
        await liar.stop()
      }
    })

    it('should protect /metrics and /api/requests with the token but serve the dashboard page', async () => {
      assert.equal((await fetch(`${a.api}/metrics`)).status, 401)
      assert.equal((await fetch(`${a.api}/api/requests`)).status, 401)
      const page = await fetch(`${a.api}/`)
      assert.equal(page.status, 200)
      assert.match(page.headers.get('content-type') ?? '', /text\/html/)
      await page.text()
    })
  })

  describe('failover', () => {
    const cluster = createCluster()
    after(async () => { await cluster.stop() })

    it('should count retries, record attempts of a failed request, and show the failing peer\'s breaker open', async () => {
      const [a, b] = await cluster.start([{ name: 'a', tier: 0, peer: { token: TOKEN } }, { name: 'b', tier: 2 }]) as [ClusterNode, ClusterNode]
      const before = await scrape(a)
      b.mock?.setBehavior({ failStatus: 500, failMessage: 'b is broken' })
      a.mock?.setBehavior({ failStatus: 500, failMessage: 'a is broken' })
      // Both fail: tier 2 tries b, then falls back to a, and the request fails after two attempts.
      const failed = await postJson(`${a.api}/v1/chat/completions`, ask('x', { tier: 2 }), { headers: AUTH })
      assert.equal(failed.status, 503, await failed.clone().text())
      const [r] = await recent(a, '?limit=1')
      assert.equal(r.outcome, 'error')
      assert.equal(r.attempts, 2)

      a.mock?.setBehavior({ failStatus: undefined })
      // b keeps failing; a serves after one retry each time. b's third failure in a row opens its breaker.
      for (let i = 0; i < 2; i++) {
        const res = await postJson(`${a.api}/v1/chat/completions`, ask('x', { tier: 2 }), { headers: AUTH })
        assert.equal(res.status, 200, await res.clone().text())
        assert.equal(res.headers.get('x-harombe-node'), 'a')
        await res.text()
      }
      const [retried] = await recent(a, '?limit=1')
      assert.equal(retried.attempts, 2)
      assert.deepEqual(retried.served_by, { name: 'a', peer_id: a.id, tier: 0 })

      const after = await scrape(a)
      assert.equal(valueOf(after, 'harombe_completion_retries_total', { api: 'openai' }) - valueOf(before, 'harombe_completion_retries_total', { api: 'openai' }), 3)
      assert.equal(valueOf(after, 'harombe_breaker_state', { peer: 'b', peer_id: b.id }), 2, 'b open')
      assert.equal(valueOf(after, 'harombe_breaker_state', { peer: 'a', peer_id: a.id }), 0, 'a closed again after its success')
    })
  })
})
