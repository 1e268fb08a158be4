import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { ClusterJson } from '../../src/api/cluster-json.js'
import { spawnPeer, type SpawnedPeer } from '../helpers/spawn-peer.js'
import { waitForClusterHttp } from '../helpers/cluster-http.js'
import { startMockOpenAIServer, type MockServer } from '../helpers/mock-openai-server.js'
import { ask, postJson, sseData, within } from '../helpers/cluster.js'

// SIGTERM while streams are in flight (DESIGN: "announce leave, finish or cancel in-flight work,
// exit 0"): the others see the peer `left` at once (not dead), new requests get 503, streams that
// fit in the drain timeout finish, the one that does not ends with an error event — no stream is
// cut off silently — and the process exits 0.

/** The leaver's `--drain-timeout`: shorter than the 10 s default, to keep the test quick. */
const DRAIN_TIMEOUT_MS = 5_000
/** Per streamed token; SHORT_TOKENS of them fit well inside the drain timeout, all of them do not. */
const TOKEN_DELAY_MS = 150
const SHORT_TOKENS = 16
const ALL_TOKENS = Math.ceil((DRAIN_TIMEOUT_MS * 1.5) / TOKEN_DELAY_MS)
/** What a stopping peer may take beyond the drain (CLI deadline: drain + 4.5 s). */
const STOP_AFTER_DRAIN_MS = 4_500

interface StreamOutcome {
  status: number
  node: string | null
  events: string[]
  endedAt: number
}

/** Starts a streamed chat; resolves `started` at the first delta and `ended` with every SSE event. */
function openStream (api: string, body: Record<string, unknown>): { started: Promise<void>, ended: Promise<StreamOutcome> } {
  let markStarted: () => void = () => {}
  const started = new Promise<void>(resolve => { markStarted = resolve })
  const ended = (async () => {
    const res = await postJson(`${api}/v1/chat/completions`, { ...body, stream: true }, { timeoutMs: 30_000 })
    let text = ''
    const decoder = new TextDecoder()
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      text += decoder.decode(chunk, { stream: true })
      if (text.includes('"content"')) markStarted()
    }
    return { status: res.status, node: res.headers.get('x-harombe-node'), events: sseData(text), endedAt: Date.now() }
  })()
  ended.catch(() => {})
  return { started, ended }
}

/** The last event says how the stream ended: `done` ([DONE] after a finish chunk), `error`, or `truncated`. */
function ending (events: string[]): 'done' | 'error' | 'truncated' {
  const last = events[events.length - 1]
  if (last === '[DONE]') return events.some(e => e !== '[DONE]' && JSON.parse(e).choices?.[0]?.finish_reason != null) ? 'done' : 'truncated'
  if (last != null && JSON.parse(last).error != null) return 'error'
  return 'truncated'
}

/** Records every state `peerId` takes in `api`'s view, from its change events. */
function recordStates (api: string, peerId: string): { states: string[], close: () => void } {
  const controller = new AbortController()
  const states: string[] = []
  void (async () => {
    const res = await fetch(new URL('/api/cluster/events', api), { signal: controller.signal })
    let buffered = ''
    const decoder = new TextDecoder()
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      buffered += decoder.decode(chunk, { stream: true })
      let end: number
      while ((end = buffered.indexOf('\n\n')) >= 0) {
        const data = buffered.slice(0, end).split('\n').find(l => l.startsWith('data: '))
        buffered = buffered.slice(end + 2)
        const change = data != null ? JSON.parse(data.slice(6)) : undefined
        if (change?.kind === 'state' && change.peer_id === peerId) states.push(change.to)
      }
    }
  })().catch(() => {})
  return { states, close: () => { controller.abort() } }
}

describe('e2e: SIGTERM with streams in flight', function () {
  this.timeout(60_000)
  const peers: SpawnedPeer[] = []
  const mocks: MockServer[] = []
  const closers: Array<() => void> = []
  let root: string

  before(async () => { root = await mkdtemp(join(tmpdir(), 'harombe-shutdown-')) })
  after(async () => {
    for (const close of closers) close()
    await Promise.all(peers.map(async p => { await p.stop().catch(() => {}) }))
    await Promise.all(mocks.map(async m => { await m.close().catch(() => {}) }))
    await rm(root, { recursive: true, force: true })
  })

  it('should announce leave first, refuse new work with 503, finish or cleanly end its streams, and exit 0', async () => {
    const tokens = Array.from({ length: ALL_TOKENS }, (_, i) => ` t${i}`)
    const [localMock, remoteMock] = await Promise.all([
      startMockOpenAIServer({ behavior: { models: ['local'], tokens, tokenDelayMs: TOKEN_DELAY_MS } }),
      startMockOpenAIServer({ behavior: { models: ['remote'], tokens, tokenDelayMs: TOKEN_DELAY_MS } })
    ])
    mocks.push(localMock, remoteMock)
    const args = (name: string, mock: MockServer, model: string, bootstrap?: string): string[] => [
      '--name', name, '--no-mdns', '--api-port', '0', '--listen', '/ip4/127.0.0.1/tcp/0', '--data-dir', join(root, name),
      '--backend', 'openai', '--backend-url', mock.url, '--model', model, ...(bootstrap != null ? ['--bootstrap', bootstrap] : [])
    ]
    const leaver = await spawnPeer([...args('leaver', localMock, 'local'), '--drain-timeout', String(DRAIN_TIMEOUT_MS)])
    peers.push(leaver)
    const other = await spawnPeer(args('other', remoteMock, 'remote', leaver.ready.mesh[0]))
    peers.push(other)
    const serving = (cl: ClusterJson): boolean => cl.peers.length === 2 && cl.peers.every(p => p.state === 'alive' && p.models.length > 0)
    await Promise.all([leaver, other].map(async p => await waitForClusterHttp(p.ready.api, serving, 15_000, 'both alive with models')))
    const seen = recordStates(other.ready.api, leaver.ready.peerId)
    closers.push(seen.close)

    // In flight at SIGTERM: served by the leaver's backend (for its own HTTP client and for a mesh
    // caller), one it proxies to the other peer, and one too long for the drain.
    const short = { max_tokens: SHORT_TOKENS }
    const streams = {
      local: openStream(leaver.ready.api, ask('a', { model: 'local', ...short })),
      mesh: openStream(other.ready.api, ask('b', { model: 'local', ...short })),
      proxied: openStream(leaver.ready.api, ask('c', { model: 'remote', ...short })),
      long: openStream(leaver.ready.api, ask('d', { model: 'local' }))
    }
    await within(Promise.all(Object.values(streams).map(async s => await s.started)), 10_000, 'every stream to deliver its first delta')

    const termAt = Date.now()
    leaver.child.kill('SIGTERM')

    const left = await waitForClusterHttp(other.ready.api, cl => cl.peers.some(p => p.peer_id === leaver.ready.peerId && p.state === 'left'), 2_000, 'leaver left on the other peer')
    const leftMs = Date.now() - termAt
    assert.ok(left != null)

    // New work during the drain: refused at once, in each API's own error format, with Retry-After.
    const refused = await postJson(`${leaver.ready.api}/v1/chat/completions`, ask('new', { model: 'local' }), { timeoutMs: 2_000 })
    const refusedBody = await refused.json() as any
    assert.equal(refused.status, 503, JSON.stringify(refusedBody))
    assert.ok(refused.headers.get('retry-after') != null, 'a 503 carries Retry-After')
    assert.match(refusedBody.error?.message ?? '', /shutting down/)
    const refusedHarombe = await postJson(`${leaver.ready.api}/api/complete`, ask('new', { model: 'remote' }), { timeoutMs: 2_000 })
    assert.equal(refusedHarombe.status, 503)
    assert.equal(typeof (await refusedHarombe.json() as any).error?.message, 'string')
    // The other peer no longer routes to the leaver: its model has no eligible peer now.
    const rerouted = await postJson(`${other.ready.api}/v1/chat/completions`, ask('new', { model: 'local' }), { timeoutMs: 2_000 })
    assert.equal(rerouted.status, 503, 'the other peer should not send new work to a peer that left')

    const outcomes = await within(Promise.all([streams.local.ended, streams.mesh.ended, streams.proxied.ended, streams.long.ended]),
      DRAIN_TIMEOUT_MS + STOP_AFTER_DRAIN_MS, 'every stream to end')
    const [local, mesh, proxied, long] = outcomes
    const exit = await within(leaver.exited, DRAIN_TIMEOUT_MS + STOP_AFTER_DRAIN_MS, 'the leaver to exit')
    const exitMs = Date.now() - termAt
    console.log(`      SIGTERM → left on the other peer after ${leftMs} ms; short streams ended after ` +
      `${[local, mesh, proxied].map(o => o.endedAt - termAt).join('/')} ms; the long one after ${long.endedAt - termAt} ms; exit ${String(exit.code)} after ${exitMs} ms`)

    for (const [name, outcome] of Object.entries({ local, mesh, proxied })) {
      assert.equal(outcome.status, 200, `${name}: status`)
      assert.equal(ending(outcome.events), 'done', `${name} stream should finish during the drain; ended with ${outcome.events.slice(-2).join(' | ')}`)
      const text = outcome.events.filter(e => e !== '[DONE]').map(e => JSON.parse(e).choices?.[0]?.delta?.content ?? '').join('')
      assert.equal(text, tokens.slice(0, SHORT_TOKENS).join(''), `${name}: every token arrived`)
    }
    assert.equal(mesh.node, 'leaver')
    assert.equal(proxied.node, 'other')
    assert.ok(leftMs < local.endedAt - termAt, 'leave is announced before the in-flight streams finish')
    assert.equal(ending(long.events), 'error', `the stream longer than the drain should end with an error event; ended with ${long.events.slice(-2).join(' | ')}`)
    assert.match(long.events[long.events.length - 1] ?? '', /drain timeout/)
    assert.ok(long.endedAt - termAt >= DRAIN_TIMEOUT_MS - 500, `the long stream was cut at ${long.endedAt - termAt} ms, before the drain timeout`)

    assert.equal(exit.code, 0, `exit status; stderr:\n${leaver.stderrTail()}`)
    assert.ok(exitMs <= DRAIN_TIMEOUT_MS + STOP_AFTER_DRAIN_MS, `exited after ${exitMs} ms`)
    assert.deepEqual(seen.states, ['left'], 'the other peer saw the leaver leave, never suspect or dead')
  })
})
