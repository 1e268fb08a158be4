import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKey } from '@libp2p/pnet'
import { createPeer, type Peer } from '../../src/peer.js'
import { createOpenAIBackend } from '../../src/backends/openai.js'
import { resolveStartOptions } from '../../src/cli/start.js'
import { startMockOpenAIServer, type MockServer } from '../helpers/mock-openai-server.js'
import { mockEmbedding } from '../helpers/mock-llm.js'
import { waitForView } from '../helpers/wait.js'

/** Bound for the listed node's first health check to land (test profile: checks every 300 ms). */
const HEALTHY_WITHIN_MS = 5_000

describe('nodes listed in the cluster file', function () {
  this.timeout(30_000)
  let root: string
  let mock: MockServer
  const peers: Peer[] = []

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'harombe-listed-'))
    mock = await startMockOpenAIServer({ behavior: { models: ['big-model'], tokens: ['from', ' the', ' remote'] } })
  })
  afterEach(async () => {
    await Promise.all(peers.splice(0).map(async p => { await p.crash().catch(() => {}) }))
    await mock.close()
    await rm(root, { recursive: true, force: true })
  })

  /** `remote` behind a private mesh key (only its HTTP API is reachable) serving from `baseUrl`, and `local`, which lists it. */
  const remoteOutsideMesh = async (baseUrl: string): Promise<{ local: Peer, api: string }> => {
    const key = new Uint8Array(95)
    generateKey(key)
    const remote = createPeer({ name: 'remote', tier: 2, dataDir: join(root, 'remote'), backend: createOpenAIBackend({ baseUrl }), meshKey: key, apiPort: 0, listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, profile: 'test' })
    peers.push(remote)
    const remoteApi = new URL((await remote.start()).apiUrl)
    const local = createPeer({
      name: 'local',
      dataDir: join(root, 'local'),
      apiPort: 0,
      listen: ['/ip4/127.0.0.1/tcp/0'],
      mdns: false,
      profile: 'test',
      listedNodes: [{ name: 'remote', host: '127.0.0.1', port: Number(remoteApi.port), models: ['big-model'], tier: 2 }]
    })
    peers.push(local)
    return { local, api: (await local.start()).apiUrl }
  }

  it('should join a listed node\'s mesh through its HTTP API, without mDNS or bootstrap (explicit discovery)', async () => {
    const a = createPeer({ name: 'a', tier: 1, dataDir: join(root, 'a'), backend: createOpenAIBackend({ baseUrl: mock.url }), apiPort: 0, listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, profile: 'test' })
    peers.push(a)
    const aApi = new URL((await a.start()).apiUrl)
    const b = createPeer({
      name: 'b',
      dataDir: join(root, 'b'),
      apiPort: 0,
      listen: ['/ip4/127.0.0.1/tcp/0'],
      mdns: false,
      profile: 'test',
      listedNodes: [{ name: 'a', host: 'localhost', port: Number(aApi.port), models: ['big-model'], tier: 1 }]
    })
    peers.push(b)
    await b.start()
    const bothAlive = (cl: { peers: Array<{ name: string, state: string }> }): boolean => ['a', 'b'].every(n => cl.peers.some(p => p.name === n && p.state === 'alive'))
    await waitForView(a, bothAlive, 5_000, 'b joined a through its API')
    await waitForView(b, bothAlive, 5_000, 'a in b\'s view')
    // In the mesh, the listed node is served over the mesh, not as an HTTP candidate.
    const served = await b.completions().complete({ messages: [{ role: 'user', content: 'hi' }], model: 'big-model' }, { signal: AbortSignal.timeout(5_000) })
    assert.equal(served.node.peer_id, a.info().peerId)
  })

  it('should route to one over HTTP when no mesh connection is possible', async () => {
    // A private mesh key keeps `remote` out of our mesh: only its HTTP API is reachable.
    const { local, api } = await remoteOutsideMesh(mock.url)

    const deadline = Date.now() + HEALTHY_WITHIN_MS
    let models: Array<{ name: string }> = []
    while (Date.now() < deadline && !models.some(m => m.name === 'big-model')) {
      models = (await (await fetch(`${api}/api/models`)).json() as { models: Array<{ name: string }> }).models
      if (!models.some(m => m.name === 'big-model')) await new Promise(resolve => setTimeout(resolve, 100))
    }
    assert.ok(models.some(m => m.name === 'big-model'), 'the listed node is a candidate once healthy')
    assert.ok(!local.cluster().peers.some(p => p.name === 'remote'), 'remote is not in the mesh view')

    const res = await fetch(`${api}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'big-model', messages: [{ role: 'user', content: 'hi' }] })
    })
    assert.equal(res.status, 200)
    assert.equal(res.headers.get('x-harombe-node'), 'remote')
    const body = await res.json() as any
    assert.equal(body.choices[0].message.content, 'from the remote')
    assert.equal(mock.chatRequests().length, 1)
  })

  it('should embed on one over HTTP when no mesh connection is possible, as it routes completions', async () => {
    const { local, api } = await remoteOutsideMesh(mock.url)
    const embed = async (): Promise<Response> => await fetch(`${api}/v1/embeddings`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'big-model', input: ['first', 'second doc'], encoding_format: 'float' }) })
    const deadline = Date.now() + HEALTHY_WITHIN_MS
    let res = await embed()
    while (res.status !== 200 && Date.now() < deadline) {
      await new Promise(resolve => setTimeout(resolve, 100))
      res = await embed()
    }
    assert.equal(res.status, 200, await res.clone().text())
    assert.ok(!local.cluster().peers.some(p => p.name === 'remote'), 'remote is not in the mesh view')
    assert.equal(res.headers.get('x-harombe-node'), 'remote')
    const body = await res.json() as any
    // The values the remote's upstream computed, carried as base64 float32 between the peers.
    assert.deepEqual(body.data.map((d: any) => d.embedding), ['first', 'second doc'].map(t => Array.from(Float32Array.from(mockEmbedding(t)))))
    assert.equal(body.usage.prompt_tokens, 3)
  })

  it('should answer 400 naming the HTTP-only node and its reason when its peers cannot embed', async () => {
    const refusing = await startMockOpenAIServer({ behavior: { models: ['big-model'], embedRefuse: true } })
    try {
      const { api } = await remoteOutsideMesh(refusing.url)
      const embed = async (): Promise<Response> => await fetch(`${api}/api/embed`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'big-model', input: 'x' }) })
      const deadline = Date.now() + HEALTHY_WITHIN_MS
      let res = await embed()
      while ((res.status === 404 || res.status === 503) && Date.now() < deadline) {
        await new Promise(resolve => setTimeout(resolve, 100))
        res = await embed()
      }
      assert.equal(res.status, 400)
      assert.match((await res.json() as any).error, /peer remote: .*--embeddings/)
    } finally {
      await refusing.close()
    }
  })

  it('should send the node\'s auth_token from the cluster YAML on the HTTP path to a node that requires one', async () => {
    const key = new Uint8Array(95)
    generateKey(key)
    const token = 'listed-node-secret'
    const remote = createPeer({ name: 'remote', tier: 2, dataDir: join(root, 'remote'), backend: createOpenAIBackend({ baseUrl: mock.url }), meshKey: key, token, apiPort: 0, listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, profile: 'test' })
    peers.push(remote)
    const remoteApi = new URL((await remote.start()).apiUrl)
    // Without the token the remote refuses: a pass below means the token was sent.
    assert.equal((await fetch(`${remoteApi.origin}/api/cluster`)).status, 401)

    // Through the cluster file and `start`'s option merging, as a user configures it.
    const yaml = join(root, 'cluster.yaml')
    await writeFile(yaml, [
      'cluster:',
      '  discovery: { method: explicit }',
      '  nodes:',
      `    - { name: remote, host: 127.0.0.1, port: ${remoteApi.port}, model: big-model, tier: 2, auth_token: "${token}" }`
    ].join('\n') + '\n')
    const { listedNodes } = await resolveStartOptions({ config: yaml, name: 'local', allowUnlisted: true }, {})
    const local = createPeer({
      name: 'local',
      dataDir: join(root, 'local'),
      apiPort: 0,
      listen: ['/ip4/127.0.0.1/tcp/0'],
      mdns: false,
      profile: 'test',
      listedNodes
    })
    peers.push(local)
    const api = (await local.start()).apiUrl
    const deadline = Date.now() + HEALTHY_WITHIN_MS
    let status = 0
    let text = ''
    // The first health check (with the token) must land before the node is a candidate.
    while (status !== 200 && Date.now() < deadline) {
      if (status !== 0) await new Promise(resolve => setTimeout(resolve, 100))
      const res = await fetch(`${api}/api/complete`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'big-model', messages: [{ role: 'user', content: 'hi' }] })
      })
      status = res.status
      text = await res.text()
    }
    assert.equal(status, 200, `completion through the token-protected node: ${text}`)
    const body = JSON.parse(text)
    assert.equal(body.node.name, 'remote')
    assert.equal(body.message.content, 'from the remote')
    assert.equal(mock.chatRequests().length, 1)
  })
})
