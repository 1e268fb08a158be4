// Regressions found by the chaos test (`npm run chaos`, issue 7), each reproduced here with real
// peers on 127.0.0.1 and the fast `test` membership profile.
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createPeer, type Peer } from '../../src/peer.js'
import { createOpenAIBackend } from '../../src/backends/openai.js'
import { startMockOpenAIServer } from '../helpers/mock-openai-server.js'
import type { MockBehavior, MockServer } from '../helpers/mock-llm.js'
import { ask, MODEL, postJson } from '../helpers/cluster.js'
import { waitForView } from '../helpers/wait.js'

describe('chaos regressions', function () {
  this.timeout(30_000)
  const peers: Peer[] = []
  const dirs: string[] = []
  const mocks: MockServer[] = []

  const startMock = async (behavior: Partial<MockBehavior>): Promise<MockServer> => {
    const mock = await startMockOpenAIServer({ behavior: { models: [MODEL], ...behavior } })
    mocks.push(mock)
    return mock
  }

  const dataDir = async (): Promise<string> => {
    const dir = await mkdtemp(join(tmpdir(), 'harombe-chaos-reg-'))
    dirs.push(dir)
    return dir
  }

  const startPeer = async (name: string, dir: string, options: { bootstrap?: string[], upstream?: string } = {}): Promise<Peer> => {
    const peer = createPeer({
      dataDir: dir,
      name,
      apiHost: '127.0.0.1',
      apiPort: 0,
      listen: ['/ip4/127.0.0.1/tcp/0'],
      mdns: false,
      profile: 'test',
      bootstrap: options.bootstrap ?? [],
      ...(options.upstream != null ? { backend: createOpenAIBackend({ baseUrl: options.upstream }) } : {})
    })
    peers.push(peer)
    await peer.start()
    return peer
  }

  afterEach(async () => {
    await Promise.all(peers.splice(0).map(async p => { await p.crash().catch(() => {}) }))
    await Promise.all(mocks.splice(0).map(async m => { await m.close().catch(() => {}) }))
    await Promise.all(dirs.splice(0).map(async d => { await rm(d, { recursive: true, force: true }) }))
  })

  it('should route to a restarted peer at once instead of waiting out the breaker its failures opened', async () => {
    // The chaos run: the only serving peer left had failed three requests while the others were
    // down, and stayed unroutable ("breaker open") for the 10 s cool-down after it was back.
    const mock = await startMock({ tokens: ['ok'], failStatus: 500 })
    const entry = await startPeer('entry', await dataDir())
    const bootstrap = [entry.info().meshAddrs[0] ?? '']
    const servingDir = await dataDir()
    let serving = await startPeer('x', servingDir, { bootstrap, upstream: mock.url })
    const id = serving.info().peerId
    const stateOfX = (): string | undefined => entry.cluster().peers.find(p => p.peer_id === id)?.state
    await waitForView(entry, cl => cl.peers.some(p => p.peer_id === id && p.state === 'alive' && p.models.includes(MODEL)), 5_000, 'x alive with its model')

    const url = `${entry.info().apiUrl}/v1/chat/completions`
    for (let i = 0; i < 3; i++) {
      const res = await postJson(url, ask())
      assert.equal(res.status, 503, `failing request ${i + 1} should be a clean 503`)
      await res.text()
    }
    const blocked = await postJson(url, ask())
    assert.match(await blocked.text(), /breaker open/, 'precondition: three failures in a row open the breaker')

    mock.setBehavior({ failStatus: undefined })
    await serving.crash()
    await waitForView(entry, () => stateOfX() !== 'alive', 5_000, 'x not alive after its crash')
    serving = await startPeer('x', servingDir, { bootstrap, upstream: mock.url })
    await waitForView(entry, () => stateOfX() === 'alive', 5_000, 'x alive again after its restart')

    // Well inside the breaker's 10 s cool-down: only a reset on rejoin lets this through.
    const res = await postJson(url, ask())
    const body = await res.text()
    assert.equal(res.status, 200, `the restarted peer should serve at once, got ${res.status}: ${body}`)
    assert.equal(res.headers.get('x-harombe-node'), 'x')
  })
})

describe('chaos regressions: failover', function () {
  this.timeout(30_000)
  const peers: Peer[] = []
  const dirs: string[] = []
  const mocks: MockServer[] = []

  afterEach(async () => {
    await Promise.all(peers.splice(0).map(async p => { await p.crash().catch(() => {}) }))
    await Promise.all(mocks.splice(0).map(async m => { await m.close().catch(() => {}) }))
    await Promise.all(dirs.splice(0).map(async d => { await rm(d, { recursive: true, force: true }) }))
  })

  const start = async (name: string, dir: string, bootstrap: string[], upstream?: string): Promise<Peer> => {
    const peer = createPeer({
      dataDir: dir,
      name,
      apiHost: '127.0.0.1',
      apiPort: 0,
      listen: ['/ip4/127.0.0.1/tcp/0'],
      mdns: false,
      profile: 'test',
      bootstrap,
      ...(upstream != null ? { backend: createOpenAIBackend({ baseUrl: upstream }) } : {})
    })
    peers.push(peer)
    await peer.start()
    return peer
  }

  it('should fail over to a peer that came back while the only candidate failed, instead of answering 503', async () => {
    // The chaos run: a request's only candidate froze; another peer was alive again by the time
    // the attempt failed, but the failover loop only knew the candidates of the first decision.
    const stalled = await startMockOpenAIServer({ behavior: { models: [MODEL], tokens: ['late'], firstTokenDelayMs: 20_000 } })
    const healthy = await startMockOpenAIServer({ behavior: { models: [MODEL], tokens: ['from y'] } })
    mocks.push(stalled, healthy)
    const dir = async (): Promise<string> => {
      const d = await mkdtemp(join(tmpdir(), 'harombe-chaos-reg-'))
      dirs.push(d)
      return d
    }
    const entry = await start('entry', await dir(), [])
    const bootstrap = [entry.info().meshAddrs[0] ?? '']
    const x = await start('x', await dir(), bootstrap, stalled.url)
    const yDir = await dir()
    let y = await start('y', yDir, bootstrap, healthy.url)
    const stateOf = (peer: Peer): string | undefined => entry.cluster().peers.find(p => p.peer_id === peer.info().peerId)?.state
    const servesModel = (peer: Peer): boolean => entry.cluster().peers.some(p => p.peer_id === peer.info().peerId && p.state === 'alive' && p.models.includes(MODEL))
    await waitForView(entry, () => servesModel(x) && servesModel(y), 5_000, 'x and y alive with their model')

    await y.crash()
    await waitForView(entry, () => stateOf(y) !== 'alive', 5_000, 'y not alive after its crash')
    const answer = postJson(`${entry.info().apiUrl}/v1/chat/completions`, ask(), { timeoutMs: 15_000 })
    await stalled.waitForRequest(1, 5_000)
    y = await start('y', yDir, bootstrap, healthy.url)
    await waitForView(entry, () => servesModel(y), 5_000, 'y alive again after its restart')
    // The only decided candidate fails before its first token.
    await x.crash()

    const res = await answer
    const body = await res.text()
    assert.equal(res.status, 200, `y should take over, got ${res.status}: ${body}`)
    assert.equal(res.headers.get('x-harombe-node'), 'y')
    assert.match(body, /from y/)
  })
})
