import assert from 'node:assert/strict'
import { peerIdFromString } from '@libp2p/peer-id'
import { completeOverMesh } from '../../src/protocol/index.js'
import type { CompletionError } from '../../src/completion/errors.js'
import { createCluster, MODEL, within, type Cluster } from '../helpers/cluster.js'

// The mesh side of a graceful stop, which the spawned-process test cannot reach on purpose: a
// request that arrives over the mesh while the peer drains (a caller that had not yet heard it
// leave) gets a retryable error trailer at once, so that caller fails over; the work already
// running still finishes.

const TOKENS = Array.from({ length: 12 }, (_, i) => ` t${i}`)
const TOKEN_DELAY_MS = 50

describe('integration: mesh requests while a peer drains', function () {
  this.timeout(30_000)
  let cluster: Cluster

  beforeEach(() => { cluster = createCluster() })
  afterEach(async () => { await cluster.stop() })

  it('should refuse a new mesh request retryably and finish the one in flight', async () => {
    const [leaver, caller] = await cluster.start([
      { name: 'leaver', behavior: { tokens: TOKENS, tokenDelayMs: TOKEN_DELAY_MS }, peer: { drainTimeoutMs: 5_000 } },
      { name: 'caller' }
    ])
    let firstDelta: () => void = () => {}
    const started = new Promise<void>(resolve => { firstDelta = resolve })
    const inFlight = leaver!.peer.completions().complete({ model: MODEL, messages: [{ role: 'user', content: 'a' }], peer: 'leaver' }, {
      signal: AbortSignal.timeout(10_000),
      onDelta: () => { firstDelta() }
    })
    await within(started, 5_000, 'the first delta of the in-flight request')

    const stopping = leaver!.peer.stop()
    const refusedAt = Date.now()
    const refused = await completeOverMesh(caller!.peer.mesh(), peerIdFromString(leaver!.id),
      { model: MODEL, messages: [{ role: 'user', content: 'b' }] }, { signal: AbortSignal.timeout(5_000) })
      .then(() => undefined, (err: CompletionError) => err)
    const refusedMs = Date.now() - refusedAt

    assert.ok(refused != null, 'a mesh request during the drain should not be served')
    assert.equal(refused.code, 'unavailable', refused.message)
    assert.equal(refused.retryable, true, 'the caller must be free to fail over')
    assert.match(refused.message, /shutting down/)
    assert.ok(refusedMs < TOKENS.length * TOKEN_DELAY_MS, `refused after ${refusedMs} ms: it should not wait for the drain`)

    const served = await inFlight
    assert.equal(served.result.message.content, TOKENS.join(''), 'the request in flight finishes during the drain')
    await stopping
  })
})
