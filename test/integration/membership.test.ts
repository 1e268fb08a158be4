import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createPeer, type Peer, type PeerInit } from '../../src/peer.js'
import { PROFILES } from '../../src/membership/profiles.js'
import { createSyntheticBackend } from '../../src/backends/synthetic.js'
import type { MemberState } from '../../src/membership/types.js'
import { stateOf, waitForView } from '../helpers/wait.js'

const T = PROFILES.test
/**
 * Crash → suspect → dead without help from the closed connection: probed within two periods (two
 * others in the rotation), no direct or indirect answer, then the suspicion timeout. A failed
 * probe of the suspect (or the connection closing) only shortens it.
 */
const DEAD_BOUND_MS = 2 * T.probeIntervalMs + 3 * T.probeTimeoutMs + T.suspicionTimeoutMs + T.tickMs

describe('membership with 3 real peers in one process', function () {
  this.timeout(30_000)
  const dirs: string[] = []
  const peers: Peer[] = []

  async function startPeer (init: Omit<PeerInit, 'dataDir'> & { dataDir?: string }): Promise<Peer> {
    const dataDir = init.dataDir ?? await mkdtemp(join(tmpdir(), 'harombe-it-'))
    if (init.dataDir == null) dirs.push(dataDir)
    // A backend that lists the peer's models: a peer announces only what its backend has.
    const backend = init.models != null ? createSyntheticBackend({ models: init.models }) : undefined
    const peer = createPeer({ apiPort: 0, listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, profile: 'test', backend, ...init, dataDir })
    peers.push(peer)
    await peer.start()
    return peer
  }

  afterEach(async () => {
    await Promise.all(peers.splice(0).map(async p => { await p.crash().catch(() => {}) }))
    await Promise.all(dirs.splice(0).map(async d => { await rm(d, { recursive: true, force: true }) }))
  })

  async function startThree (): Promise<[Peer, Peer, Peer]> {
    const a = await startPeer({ name: 'a', tier: 0, models: ['small'] })
    const bootstrap = [a.info().meshAddrs[0] ?? '']
    const b = await startPeer({ name: 'b', tier: 1, models: ['medium'], bootstrap })
    const c = await startPeer({ name: 'c', tier: 2, models: ['large', 'large-instruct'], bootstrap })
    for (const p of [a, b, c]) {
      await waitForView(p, cl => cl.peers.length === 3 && cl.peers.every(x => x.state === 'alive'), 5_000, 'all 3 alive')
    }
    return [a, b, c]
  }

  it('should give every peer the same view of all 3 with name, models and tier', async () => {
    const [a, b, c] = await startThree()
    const expected = [
      { name: 'a', models: ['small'], tier: 0, peer_id: a.info().peerId },
      { name: 'b', models: ['medium'], tier: 1, peer_id: b.info().peerId },
      { name: 'c', models: ['large', 'large-instruct'], tier: 2, peer_id: c.info().peerId }
    ]
    for (const p of [a, b, c]) {
      const seen = p.cluster().peers.map(x => ({ name: x.name, models: x.models, tier: x.tier, peer_id: x.peer_id }))
      assert.deepEqual(seen, expected, `view of ${p.info().name}`)
      assert.equal(p.cluster().peers.filter(x => x.self).length, 1, 'exactly one self entry')
    }
  })

  it('should show a gracefully stopped peer as left on the others within 1 s', async () => {
    const [a, b, c] = await startThree()
    const id = c.info().peerId
    const started = Date.now()
    const stopping = c.stop()
    await Promise.all([a, b].map(async p => { await waitForView(p, cl => stateOf(cl, id) === 'left', 1_000, 'c left') }))
    const elapsed = Date.now() - started
    await stopping
    assert.ok(elapsed <= 1_000, `left seen after ${elapsed} ms`)
    // Left is final: no suspect/dead on top of it once the connections close.
    assert.equal(stateOf(a.cluster(), id), 'left')
  })

  it('should show an abruptly disconnected peer suspect, then dead, then alive again after restart', async () => {
    const [a, b] = await startThree()
    const id = b.info().peerId
    const dataDir = dirs[1] ?? ''
    const seen: MemberState[] = []
    const unsubscribe = a.onChange(change => {
      if (change.peerId === id && change.kind === 'state') seen.push(change.to)
    })
    const crashed = Date.now()
    await b.crash()
    await waitForView(a, cl => stateOf(cl, id) === 'dead', DEAD_BOUND_MS + 1_000, 'b dead')
    const elapsed = Date.now() - crashed
    unsubscribe()
    assert.deepEqual(seen, ['suspect', 'dead'], 'b went through suspect to dead')
    assert.ok(elapsed <= DEAD_BOUND_MS, `dead after ${elapsed} ms, bound ${DEAD_BOUND_MS} ms`)

    const restarted = await startPeer({ name: 'b', tier: 1, models: ['medium'], dataDir, bootstrap: [a.info().meshAddrs[0] ?? ''] })
    assert.equal(restarted.info().peerId, id, 'same identity from the same data dir')
    const cluster = await waitForView(a, cl => stateOf(cl, id) === 'alive', 5_000, 'b alive again')
    assert.equal(cluster.peers.find(p => p.peer_id === id)?.reason, 'rejoined')
  })
})
