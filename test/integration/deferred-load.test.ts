import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { deferredBackend } from '../../src/backends/deferred.js'
import { createSyntheticBackend, SYNTHETIC_MODEL } from '../../src/backends/synthetic.js'
import { createPeer, type Peer } from '../../src/peer.js'
import type { Backend } from '../../src/completion/types.js'

// Issue 27, item 5: the default peer (the tiny model) printed its ready line only after node-llama-cpp
// and the model had loaded, most of its start-up. The model now loads after the ready line: the
// peer announces the model's name at once, /readyz says "loading" until it can serve, and a
// request that arrives meanwhile waits for the load instead of failing.

/** A load the test finishes (or fails) when it wants. */
function gate (): { promise: Promise<void>, open: () => void, fail: (err: Error) => void } {
  let open!: () => void
  let fail!: (err: Error) => void
  const promise = new Promise<void>((resolve, reject) => { open = resolve; fail = reject })
  return { promise, open, fail }
}

describe('a backend whose model loads after the peer is ready', function () {
  this.timeout(30_000)
  let dir: string
  const peers: Peer[] = []

  before(async () => { dir = await mkdtemp(join(tmpdir(), 'harombe-deferred-')) })
  afterEach(async () => { await Promise.all(peers.splice(0).map(async p => { await p.crash() })) })
  after(async () => { await rm(dir, { recursive: true, force: true }) })

  const deferred = (g: ReturnType<typeof gate>, onError: (err: unknown) => void = () => {}): Backend => deferredBackend({
    kind: 'test',
    modelName: SYNTHETIC_MODEL,
    capacity: 2,
    load: async () => { await g.promise; return createSyntheticBackend({ defaultMaxTokens: 3 }) },
    onError
  })

  it('should be started and announce the model at once, say "loading" on /readyz, and answer a waiting request once loaded', async () => {
    const load = gate()
    const peer = createPeer({ name: 'p', dataDir: await mkdtemp(join(dir, 'p-')), backend: deferred(load), apiPort: 0, listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, profile: 'test' })
    peers.push(peer)
    const { apiUrl } = await peer.start()
    const loading = await fetch(`${apiUrl}/readyz`)
    assert.equal(loading.status, 503)
    assert.deepEqual(await loading.json(), { ready: false, reason: `loading ${SYNTHETIC_MODEL}; no other peer serves a model` })
    assert.deepEqual(peer.cluster().peers.find(x => x.self)?.models, [SYNTHETIC_MODEL], 'announced before the load ends')

    const answer = fetch(`${apiUrl}/v1/chat/completions`, { method: 'POST', body: JSON.stringify({ model: SYNTHETIC_MODEL, messages: [{ role: 'user', content: 'hi' }] }) })
    const early = await Promise.race([answer.then(() => 'answered'), new Promise(resolve => { setTimeout(resolve, 300, 'waiting') })])
    assert.equal(early, 'waiting', 'the request waits for the model')
    load.open()
    const body = await (await answer).json() as any
    assert.equal(body.usage.completion_tokens, 3)
    assert.equal((await fetch(`${apiUrl}/readyz`)).status, 200)
  })

  it('should hand a failed load to onError, and fail requests and /readyz with its reason', async () => {
    const load = gate()
    const errors: unknown[] = []
    const backend = deferred(load, err => { errors.push(err) })
    const pending = backend.complete({ model: SYNTHETIC_MODEL, messages: [{ role: 'user', content: 'hi' }] }, { signal: new AbortController().signal })
    load.fail(new Error('bad tensor'))
    await assert.rejects(pending, { name: 'UnavailableError', message: 'model did not load: bad tensor' })
    assert.deepEqual(errors.map(e => (e as Error).message), ['bad tensor'])
    assert.equal(backend.loading?.(), 'model did not load: bad tensor')
    await assert.rejects(backend.models(), { name: 'UnavailableError' })
  })

  it('should begin loading only after `after` (the ready line), or at the first completion, and close without ever loading', async () => {
    let loads = 0
    const make = (after: Promise<void>): Backend => deferredBackend({
      kind: 'test', modelName: SYNTHETIC_MODEL, capacity: 1, after, onError: () => {},
      load: async () => { loads++; return createSyntheticBackend({ defaultMaxTokens: 2 }) }
    })
    const ready = gate()
    make(ready.promise)
    await new Promise(resolve => setImmediate(resolve))
    assert.equal(loads, 0, 'not before the ready line')
    ready.open()
    await new Promise(resolve => setImmediate(resolve))
    assert.equal(loads, 1)

    const early = make(new Promise(() => {}))
    const answer = await early.complete({ model: SYNTHETIC_MODEL, messages: [{ role: 'user', content: 'hi' }] }, { signal: new AbortController().signal })
    assert.equal(answer.usage.completion_tokens, 2)
    assert.equal(loads, 2, 'a completion begins the load')

    await make(new Promise(() => {})).close()
    assert.equal(loads, 2, 'closed before its ready line: never loaded')
  })

  it('should end a request aborted while the model loads', async () => {
    const load = gate()
    const backend = deferred(load)
    const abort = new AbortController()
    const pending = backend.complete({ model: SYNTHETIC_MODEL, messages: [{ role: 'user', content: 'hi' }] }, { signal: abort.signal })
    abort.abort()
    await assert.rejects(pending, { name: 'AbortedError' })
    load.open()
    await backend.close()
  })
})
