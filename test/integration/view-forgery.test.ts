import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { createPeer, type Peer } from '../../src/peer.js'
import { createMeshNode, type MeshNode } from '../../src/mesh/node.js'
import { createLibp2pTransport } from '../../src/membership/libp2p-transport.js'
import { silentLogger } from '../../src/log.js'
import { signAnnouncement } from '../../src/membership/announcement.js'
import type { Announcement } from '../../src/membership/types.js'
import { waitForView } from '../helpers/wait.js'

describe('full-view exchange with a lying peer', function () {
  this.timeout(20_000)
  let root: string
  let peer: Peer
  let liar: MeshNode

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'harombe-forgery-'))
    peer = createPeer({ name: 'honest', dataDir: join(root, 'honest'), apiPort: 0, listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, profile: 'test' })
    await peer.start()
    // A bare libp2p node that speaks the view protocol but is not a harombe peer.
    liar = await createMeshNode({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'] })
    await liar.start()
  })
  after(async () => {
    await liar?.stop()
    await peer?.stop()
    await rm(root, { recursive: true, force: true })
  })

  it('should take only entries signed by their own peer, whoever relays them', async () => {
    const keys = await Promise.all([0, 1, 2].map(async () => await generateKeyPair('Ed25519')))
    const describe = (i: number, name: string): Announcement => ({
      peer_id: peerIdFromPrivateKey(keys[i]!).toString(), name, incarnation: 1, seq: 1, state: 'alive', models: ['m'], tier: 2,
      enabled: true, load: { active: 0, queued: 0, capacity: 1 }, api_port: 1, addrs: [], version: 'x'
    })
    const genuine = await signAnnouncement(describe(0, 'genuine'), keys[0]!)
    const forged = await signAnnouncement(describe(1, 'forged'), keys[2]!) // signed by someone else
    const unsigned = describe(2, 'unsigned')
    // The honest peer itself, claimed dead by the liar: it must not believe that about itself either.
    const aboutHonest = { ...describe(0, 'x'), peer_id: peer.info().peerId }

    await liar.dial(peer.mesh().getMultiaddrs())
    // The liar pushes its view (push-pull) and gets the honest peer's back.
    await createLibp2pTransport(liar, silentLogger()).exchangeViews(peer.info().peerId, [
      { announcement: forged, state: 'alive' },
      { announcement: unsigned, state: 'alive' },
      { announcement: aboutHonest, state: 'dead' },
      { announcement: genuine, state: 'alive' }
    ], AbortSignal.timeout(5_000))
    await waitForView(peer, cl => cl.peers.some(p => p.name === 'genuine'), 5_000, 'the genuine entry')
    const names = peer.cluster().peers.map(p => p.name).sort()
    assert.deepEqual(names, ['genuine', 'honest'])
    assert.equal(peer.cluster().peers.find(p => p.self)?.state, 'alive')
  })
})
