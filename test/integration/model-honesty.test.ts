import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createPeer, type Peer } from '../../src/peer.js'
import { createOllamaBackend } from '../../src/backends/ollama.js'
import { ModelNotServedError } from '../../src/backends/served-models.js'
import { startMockOllamaServer, type MockServer } from '../helpers/mock-ollama-server.js'
import { closedLoopbackPort } from '../helpers/run-cli.js'
import { waitForView } from '../helpers/wait.js'

/** The test profile asks the backend every 300 ms; a change shows within a few checks. */
const FOLLOWS_WITHIN_MS = 3_000

describe('model honesty with a real peer and an Ollama-shaped backend', function () {
  this.timeout(30_000)
  let dir: string
  const peers: Peer[] = []
  const mocks: MockServer[] = []

  beforeEach(async () => { dir = await mkdtemp(join(tmpdir(), 'harombe-honesty-')) })
  afterEach(async () => {
    await Promise.all(peers.splice(0).map(async p => { await p.stop().catch(() => {}) }))
    await Promise.all(mocks.splice(0).map(async m => { await m.close() }))
    await rm(dir, { recursive: true, force: true })
  })

  function peerOn (url: string, models: string[]): Peer {
    const peer = createPeer({
      name: 'p', dataDir: dir, apiPort: 0, listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, profile: 'test',
      backend: createOllamaBackend({ baseUrl: url }), models
    })
    peers.push(peer)
    return peer
  }

  const announced = (peer: Peer): string[] => peer.cluster().peers.find(p => p.self)?.models ?? []

  it('should refuse to start when the backend answers without a configured model', async () => {
    const ollama = await startMockOllamaServer({ behavior: { models: ['llama3:latest'] } })
    mocks.push(ollama)
    const peer = peerOn(ollama.url, ['qwen2.5:3b'])
    await assert.rejects(peer.start(), (err: Error) => err instanceof ModelNotServedError &&
      err.message === `p: model "qwen2.5:3b" is not served by the ollama backend at ${ollama.url} (it has: llama3:latest); pull it there (ollama pull qwen2.5:3b) or change the node's model`)
  })

  it('should start with no model while the backend is down, announce it when it lists it, and drop it when it is removed', async () => {
    const port = await closedLoopbackPort()
    const peer = peerOn(`http://127.0.0.1:${port}`, ['qwen2.5:3b'])
    await peer.start()
    assert.deepEqual(announced(peer), [])
    const refused = await fetch(`${peer.info().apiUrl}/v1/chat/completions`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'qwen2.5:3b', messages: [{ role: 'user', content: 'hi' }] })
    })
    assert.equal(refused.status, 404, 'a model the peer does not announce is not accepted')
    assert.equal((await fetch(`${peer.info().apiUrl}/readyz`)).status, 503)

    // Ollama comes up with the model (started where the peer expects it)
    const ollama = await startMockOllamaServer({ port, behavior: { models: ['qwen2.5:3b', 'other:1b'], tokens: ['up'] } })
    mocks.push(ollama)
    await waitForView(peer, cl => cl.peers.some(p => p.self && p.models.join() === 'qwen2.5:3b'), FOLLOWS_WITHIN_MS, 'the model announced once Ollama lists it')
    assert.equal((await fetch(`${peer.info().apiUrl}/readyz`)).status, 200)
    const served = await peer.completions().complete({ messages: [{ role: 'user', content: 'hi' }], model: 'qwen2.5:3b' }, { signal: AbortSignal.timeout(5_000) })
    assert.equal(served.result.message.content, 'up')

    // `ollama rm qwen2.5:3b`
    ollama.setBehavior({ models: ['other:1b'] })
    await waitForView(peer, cl => cl.peers.some(p => p.self && p.models.length === 0), FOLLOWS_WITHIN_MS, 'the removed model no longer announced')
    await assert.rejects(
      peer.completions().complete({ messages: [{ role: 'user', content: 'hi' }], model: 'qwen2.5:3b' }, { signal: AbortSignal.timeout(5_000) }),
      (err: Error) => err.name === 'UnknownModelError'
    )
  })

  it('should follow everything the backend lists when no model is configured', async () => {
    const ollama = await startMockOllamaServer({ behavior: { models: ['a:1b'] } })
    mocks.push(ollama)
    const peer = peerOn(ollama.url, [])
    await peer.start()
    assert.deepEqual(announced(peer), ['a:1b'])
    ollama.setBehavior({ models: ['a:1b', 'b:7b'] })
    await waitForView(peer, cl => cl.peers.some(p => p.self && p.models.join() === 'a:1b,b:7b'), FOLLOWS_WITHIN_MS, 'a pulled model announced')
  })
})
