import assert from 'node:assert/strict'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { createMeshNode, hasOpenConnection, type MeshNode } from '../../src/mesh/node.js'
import { createAutoDial } from '../../src/mesh/auto-dial.js'
import { silentLogger } from '../../src/log.js'
import { pollUntil } from '../helpers/wait.js'

/**
 * libp2p reports a discovered peer once, when it first enters the peer store. A peer's node starts
 * (and mDNS answers) before the rest of the peer is built, so a discovery could happen before
 * anyone listened: found by the mDNS e2e, where two peers then stayed alone for good whenever the
 * one with the smaller id (the only one that dials a symmetric discovery) was the one that missed it.
 */
describe('auto-dial: a peer discovered before it started', function () {
  this.timeout(20_000)
  const nodes: MeshNode[] = []
  after(async () => { await Promise.all(nodes.map(async n => { await n.stop() })) })

  it('should still be dialed, from the peer store', async () => {
    for (let i = 0; i < 2; i++) {
      const node = await createMeshNode({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'] })
      await node.start()
      nodes.push(node)
    }
    // The smaller id dials a symmetric discovery; the other waits to be dialed.
    const [dialer, other] = [...nodes].sort((a, b) => a.peerId.toString() < b.peerId.toString() ? -1 : 1) as [MeshNode, MeshNode]
    // What a discovery does before anyone listens: the peer enters the store, the event goes unheard.
    await dialer.peerStore.merge(other.peerId, { multiaddrs: other.getMultiaddrs() })
    const autoDial = createAutoDial(dialer, { bootstrap: [], redialIntervalMs: 60_000, wanted: () => [], logger: silentLogger() })
    autoDial.start()
    try {
      await pollUntil(() => hasOpenConnection(dialer, other.peerId.toString()) && hasOpenConnection(other, dialer.peerId.toString()), 5_000, 'the early-discovered peer dialed')
      assert.equal(dialer.getConnections(other.peerId)[0]?.direction, 'outbound', 'dialed by the peer that found it')
    } finally {
      autoDial.stop()
    }
  })
})
