import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createPeer, type Peer } from '../../src/peer.js'
import { createOllamaBackend } from '../../src/backends/ollama.js'
import { DOWN_AFTER_FAILED_CHECKS, ModelNotServedError } from '../../src/backends/served-models.js'
import { PROFILES } from '../../src/membership/profiles.js'
import type { Backend } from '../../src/completion/types.js'
import { startMockOllamaServer, type MockServer } from '../helpers/mock-ollama-server.js'
import { closedLoopbackPort } from '../helpers/run-cli.js'
import { waitForView } from '../helpers/wait.js'
import type { ClusterJson } from '../../src/api/cluster-json.js'

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

  it('should withdraw a backend\'s models from /v1/models, the views and routing once it dies after serving, and restore them when it returns', async () => {
    const MODEL = 'qwen2.5:3b'
    let ollama = await startMockOllamaServer({ behavior: { models: [MODEL], tokens: ['up'] } })
    mocks.push(ollama)
    const port = ollama.port
    // Count the failed checks of the model list, and look at what was announced when the
    // documented tolerance ran out: one failed check must not withdraw anything.
    const inner = createOllamaBackend({ baseUrl: ollama.url })
    let failedChecks = 0
    let announcedAtLastTolerated: string[] | undefined
    const serving = createPeer({
      name: 'serving', dataDir: join(dir, 'serving'), apiPort: 0, listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, profile: 'test',
      models: [MODEL],
      backend: {
        ...inner,
        async models (signal) {
          try {
            return await inner.models(signal)
          } catch (err) {
            if (++failedChecks === DOWN_AFTER_FAILED_CHECKS) announcedAtLastTolerated = announced(serving)
            throw err
          }
        }
      } satisfies Backend
    })
    peers.push(serving)
    await serving.start()
    const entry = createPeer({
      name: 'entry', dataDir: join(dir, 'entry'), apiPort: 0, listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, profile: 'test',
      bootstrap: [serving.info().meshAddrs[0] ?? '']
    })
    peers.push(entry)
    await entry.start()

    const servingId = serving.info().peerId
    const modelsOf = (cl: ClusterJson): string[] => cl.peers.find(p => p.peer_id === servingId && p.state === 'alive')?.models ?? []
    const listed = async (peer: Peer): Promise<string[]> =>
      ((await (await fetch(`${peer.info().apiUrl}/v1/models`)).json()) as { data: Array<{ id: string }> }).data.map(m => m.id)
    const ask = async (): Promise<string> => {
      const served = await entry.completions().complete({ messages: [{ role: 'user', content: 'hi' }], model: MODEL }, { signal: AbortSignal.timeout(5_000) })
      assert.equal(served.node.name, 'serving')
      return served.result.message.content ?? ''
    }

    // It serves, through the mesh.
    await waitForView(entry, cl => modelsOf(cl).includes(MODEL), FOLLOWS_WITHIN_MS, 'the serving peer\'s model in the entry peer\'s view')
    assert.equal(await ask(), 'up')

    // The backend dies (Ollama stopped; its port refuses connections).
    await ollama.close()
    const diedAt = Date.now()
    // Bound: the documented checks (one interval each, plus the one under way) and slack for a loaded machine.
    const withdrawnWithin = (DOWN_AFTER_FAILED_CHECKS + 1) * PROFILES.test.modelCheckIntervalMs + FOLLOWS_WITHIN_MS
    await waitForView(serving, cl => cl.peers.some(p => p.self && p.models.length === 0), withdrawnWithin, 'the dead backend\'s model withdrawn from the serving peer\'s own announcement')
    const checksWhenWithdrawn = failedChecks
    assert.deepEqual(announcedAtLastTolerated, [MODEL], `the model stayed announced through ${DOWN_AFTER_FAILED_CHECKS - 1} failed check(s)`)
    // The check that withdrew it is the documented one; a poll of the view may see one more.
    assert.ok(checksWhenWithdrawn >= DOWN_AFTER_FAILED_CHECKS && checksWhenWithdrawn <= DOWN_AFTER_FAILED_CHECKS + 1,
      `withdrawn after ${checksWhenWithdrawn} failed checks (documented: ${DOWN_AFTER_FAILED_CHECKS}), ${Date.now() - diedAt} ms after the backend died`)
    await waitForView(entry, cl => cl.peers.some(p => p.peer_id === servingId && p.state === 'alive') && !modelsOf(cl).includes(MODEL), FOLLOWS_WITHIN_MS, 'the model gone from the serving peer in the entry peer\'s view (the peer itself still alive)')
    assert.deepEqual(await listed(serving), [], 'GET /v1/models on the serving peer')
    assert.deepEqual(await listed(entry), [], 'GET /v1/models on the entry peer')
    await assert.rejects(ask(), (err: Error) => err.name === 'UnknownModelError', 'the entry peer routes nothing to the withdrawn model')

    // It comes back where the peer expects it.
    ollama = await startMockOllamaServer({ port, behavior: { models: [MODEL], tokens: ['back'] } })
    mocks.push(ollama)
    await waitForView(serving, cl => cl.peers.some(p => p.self && p.models.join() === MODEL), FOLLOWS_WITHIN_MS, 'the model announced again')
    await waitForView(entry, cl => modelsOf(cl).includes(MODEL), FOLLOWS_WITHIN_MS, 'the model back in the entry peer\'s view')
    assert.deepEqual(await listed(serving), [MODEL])
    assert.deepEqual(await listed(entry), [MODEL])
    assert.equal(await ask(), 'back')
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
