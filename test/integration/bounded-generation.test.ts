import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createEmbeddedBackend } from '../../src/backends/embedded.js'
import { ensureTinyModel, TINY_MODEL_NAME } from '../../src/backends/tiny-gguf.js'
import { createPeer, type Peer } from '../../src/peer.js'
import { waitForView } from '../helpers/wait.js'
import { startSyntheticPeer, type SyntheticPeer } from '../helpers/synthetic-peer.js'

// Issue 17: no request runs for ever. The tiny model never stops by itself, so a request for 10^9
// tokens used to generate for as long as the client waited; now it ends with a `length` reason at
// the peer's cap or at the model's context, whichever comes first. A request that outlives
// `--request-timeout` ends with a clean timeout error in its API's format, counted in /metrics.

const post = async (url: string, body: unknown): Promise<Response> =>
  await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal: AbortSignal.timeout(60_000) })

describe('bounded generation on the embedded backend (harombe-tiny)', function () {
  this.timeout(90_000)
  let dir: string
  const peers: Peer[] = []

  before(async () => { dir = await mkdtemp(join(tmpdir(), 'harombe-bounded-')) })
  afterEach(async () => { await Promise.all(peers.splice(0).map(async p => { await p.crash() })) })
  after(async () => { await rm(dir, { recursive: true, force: true }) })

  const start = async (maxTokensCap: number, defaultMaxTokens?: number): Promise<string> => {
    const modelFile = await ensureTinyModel(dir)
    const peer = createPeer({
      dataDir: await mkdtemp(join(dir, 'peer-')),
      name: 'tiny',
      backend: await createEmbeddedBackend({ modelFile, modelName: TINY_MODEL_NAME, ...(defaultMaxTokens != null ? { defaultMaxTokens } : {}) }),
      maxTokensCap,
      apiPort: 0,
      listen: ['/ip4/127.0.0.1/tcp/0'],
      mdns: false,
      profile: 'test'
    })
    peers.push(peer)
    return (await peer.start()).apiUrl
  }
  const messages = [{ role: 'user', content: 'tell me about the mesh' }]

  it('should end max_tokens 10^9 at the peer\'s cap with finish_reason "length" (OpenAI)', async () => {
    const api = await start(64)
    const started = performance.now()
    const response = await post(`${api}/v1/chat/completions`, { model: TINY_MODEL_NAME, messages, max_tokens: 1e9 })
    assert.equal(response.status, 200)
    const body = await response.json() as any
    assert.deepEqual([body.choices[0].finish_reason, body.usage.completion_tokens], ['length', 64])
    assert.ok(performance.now() - started < 20_000, `64 tokens took ${Math.round(performance.now() - started)} ms`)
  })

  it('should end num_predict 10^9 at the cap with done_reason "length" (Ollama, streamed)', async () => {
    const api = await start(64)
    const response = await post(`${api}/api/chat`, { model: TINY_MODEL_NAME, messages, options: { num_predict: 1e9 } })
    assert.equal(response.status, 200)
    const last = JSON.parse((await response.text()).trim().split('\n').at(-1) ?? '')
    assert.deepEqual([last.done, last.done_reason, last.eval_count], [true, 'length', 64])
  })

  // Issue 27: a request without max_tokens ran into a hidden 256 on every embedded model. Now it
  // runs until the model stops, within the cap and the context, as against Ollama or llama-server;
  // only a backend that declares a default (the tiny model, which never stops) gets one.
  it('should run a request without max_tokens past 256 up to the peer\'s cap on a model without a default', async () => {
    const api = await start(400)
    const response = await post(`${api}/v1/chat/completions`, { model: TINY_MODEL_NAME, messages })
    const body = await response.json() as any
    assert.deepEqual([body.choices[0].finish_reason, body.usage.completion_tokens], ['length', 400])
  })

  it('should give a request without max_tokens the backend\'s own default when it declares one (the tiny model\'s)', async () => {
    const api = await start(8192, 40)
    const response = await post(`${api}/v1/chat/completions`, { model: TINY_MODEL_NAME, messages })
    const body = await response.json() as any
    assert.deepEqual([body.choices[0].finish_reason, body.usage.completion_tokens], ['length', 40])
  })

  it('should end max_tokens 10^9 at the model\'s context when the cap is off (--max-tokens-cap 0)', async () => {
    const api = await start(0)
    const started = performance.now()
    const response = await post(`${api}/v1/chat/completions`, { model: TINY_MODEL_NAME, messages, max_tokens: 1e9, stream: true, stream_options: { include_usage: true } })
    assert.equal(response.status, 200)
    const events = (await response.text()).split('\n\n').filter(e => e.startsWith('data: {')).map(e => JSON.parse(e.slice(6)))
    const finish = events.flatMap(e => e.choices.map((c: any) => c.finish_reason)).filter((r: unknown) => r != null)
    const usage = events.find(e => e.usage != null)?.usage
    assert.deepEqual(finish, ['length'])
    // The tiny model's context is 2048 tokens per sequence: prompt and answer together fill it exactly.
    assert.equal(usage.prompt_tokens + usage.completion_tokens, 2048)
    assert.ok(performance.now() - started < 60_000, `took ${Math.round(performance.now() - started)} ms`)
  })
})

describe('bounded generation across the mesh', function () {
  this.timeout(30_000)
  const started: SyntheticPeer[] = []
  afterEach(async () => { await Promise.all(started.splice(0).map(async p => { await p.stop() })) })

  /** A serving peer with `serving` settings and a routing-only entry peer joined to it. */
  const mesh = async (serving: Parameters<typeof startSyntheticPeer>[1], synthetic: Parameters<typeof startSyntheticPeer>[0] = {}): Promise<{ entry: SyntheticPeer, server: SyntheticPeer }> => {
    const server = await startSyntheticPeer(synthetic, { name: 'server', ...serving })
    started.push(server)
    const entry = await startSyntheticPeer('none', { name: 'entry', bootstrap: server.peer.info().meshAddrs.slice(0, 1), requestTimeoutMs: 0 })
    started.push(entry)
    await waitForView(entry.peer, c => c.peers.some(p => p.name === 'server' && p.state === 'alive' && p.models.length > 0), 10_000, 'the server with its model')
    return { entry, server }
  }

  it('should cap a request on the serving peer, whatever the entry peer passes on', async () => {
    const { entry } = await mesh({ maxTokensCap: 50 })
    const response = await post(`${entry.api}/v1/chat/completions`, { messages: [{ role: 'user', content: 'hi' }], max_tokens: 1e9 })
    assert.equal(response.status, 200, await response.clone().text())
    const body = await response.json() as any
    assert.deepEqual([response.headers.get('x-harombe-node'), body.choices[0].finish_reason, body.usage.completion_tokens], ['server', 'length', 50])
  })

  it('should end a generation at the serving peer\'s own timeout when the entry peer has none', async () => {
    const { entry, server } = await mesh({ requestTimeoutMs: 300 }, { tokensPerSecond: 50 })
    const response = await post(`${entry.api}/api/complete`, { messages: [{ role: 'user', content: 'hi' }], max_tokens: 5_000, stream: true })
    assert.equal(response.status, 200)
    const last = JSON.parse((await response.text()).trim().split('\n').at(-1) ?? '')
    assert.equal(last.type, 'error', `the stream ended with ${JSON.stringify(last)}`)
    assert.match(last.error.message, /request timeout \(300 ms\)/)
    const metrics = await (await fetch(`${server.api}/metrics`)).text()
    assert.match(metrics, /^harombe_request_timeouts_total\{where="backend"\} 1$/m)
  })
})

describe('--request-timeout at the HTTP edge', function () {
  this.timeout(30_000)
  let peer: SyntheticPeer
  // 50 tokens/s and 5,000 tokens asked: 100 s unless the 300 ms timeout ends it.
  before(async () => { peer = await startSyntheticPeer({ tokensPerSecond: 50 }, { requestTimeoutMs: 300 }) })
  after(async () => { await peer?.stop() })

  const messages = [{ role: 'user', content: 'hi' }]
  /** The last event or line of a stream, parsed. */
  const lastOf = (text: string, sse: boolean): any => {
    const parts = sse ? text.split('\n\n').filter(e => e.startsWith('data: ')).map(e => e.slice(6)) : text.trim().split('\n')
    return JSON.parse(parts.at(-1) ?? '')
  }
  const cases: Array<{ api: string, path: string, body: Record<string, unknown>, stream: boolean, check: (error: any) => boolean }> = [
    { api: 'openai', path: '/v1/chat/completions', body: { messages, max_tokens: 5_000 }, stream: true, check: e => typeof e.error?.message === 'string' && e.error.code === 'timeout' && e.error.type === 'server_error' },
    { api: 'openai', path: '/v1/chat/completions', body: { messages, max_tokens: 5_000 }, stream: false, check: e => typeof e.error?.message === 'string' && e.error.code === 'timeout' },
    { api: 'ollama', path: '/api/chat', body: { model: 'synthetic', messages, options: { num_predict: 5_000 } }, stream: true, check: e => typeof e.error === 'string' },
    { api: 'ollama', path: '/api/generate', body: { model: 'synthetic', prompt: 'hi', options: { num_predict: 5_000 } }, stream: false, check: e => typeof e.error === 'string' },
    { api: 'harombe', path: '/api/complete', body: { messages, max_tokens: 5_000 }, stream: true, check: e => e.type === 'error' && e.error.code === 'timeout' },
    { api: 'harombe', path: '/api/complete', body: { messages, max_tokens: 5_000 }, stream: false, check: e => e.error?.code === 'timeout' }
  ]
  for (const c of cases) {
    it(`should end a ${c.stream ? 'stream' : 'whole answer'} on ${c.path} at the timeout with ${c.api}'s error shape`, async () => {
      const before = await timeouts(peer.api)
      const begun = performance.now()
      const response = await post(`${peer.api}${c.path}`, { ...c.body, stream: c.stream })
      const text = await response.text()
      const ms = performance.now() - begun
      assert.ok(ms < 5_000, `took ${Math.round(ms)} ms`)
      // A stream has already answered 200 when the timeout fires; a whole answer has not.
      assert.equal(response.status, c.stream ? 200 : 504)
      const error = c.stream ? lastOf(text, c.api === 'openai') : JSON.parse(text)
      assert.ok(c.check(error), `not ${c.api}'s error shape: ${JSON.stringify(error)}`)
      assert.match(JSON.stringify(error), /request timeout \(300 ms\)/)
      assert.equal(await timeouts(peer.api), before + 1, 'harombe_request_timeouts_total{where="request"} did not count it')
    })
  }
})

async function timeouts (api: string): Promise<number> {
  const text = await (await fetch(`${api}/metrics`)).text()
  return Number(/^harombe_request_timeouts_total\{where="request"\} (\d+)$/m.exec(text)?.[1] ?? NaN)
}
