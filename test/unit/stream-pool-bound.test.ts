import assert from 'node:assert/strict'
import { pushable, type Pushable } from 'it-pushable'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { PeerId } from '@libp2p/interface'
import type { MeshNode } from '../../src/mesh/node.js'
import { createStreamPool, MAX_IDLE_STREAMS_PER_PEER } from '../../src/protocol/index.js'
import { MAX_IDLE_EMBED_STREAMS_PER_PEER } from '../../src/embeddings/constants.js'

// protocol.pooled-streams and embeddings.pooled-streams (issue 25): the pool keeps at most
// maxIdlePerPeer idle streams per peer and closes the oldest extras; an idle stream whose peer
// closes it (its connection went) leaves the pool, so peers without a connection hold none and
// the registered bound is maxIdlePerPeer × MAX_CONNECTIONS. A fake node: no sockets.

interface FakeStream {
  status: string, writeStatus: string, readStatus: string
  source: Pushable<Uint8Array>
  sink: (src: AsyncIterable<unknown>) => Promise<void>
  close: () => Promise<void>
  abort: () => void
  closedByPool: boolean
}

function fakeNode (): { node: MeshNode, opened: FakeStream[] } {
  const opened: FakeStream[] = []
  const node = {
    dialProtocol: async () => {
      const stream: FakeStream = {
        status: 'open',
        writeStatus: 'writing',
        readStatus: 'ready',
        source: pushable<Uint8Array>(),
        sink: async src => { for await (const _ of src) { /* nobody reads */ } },
        close: async () => { stream.closedByPool = true; stream.status = 'closed'; stream.source.end() },
        abort: () => { stream.closedByPool = true; stream.status = 'closed'; stream.source.end() },
        closedByPool: false
      }
      opened.push(stream)
      return stream
    }
  } as unknown as MeshNode
  return { node, opened }
}

const tick = async (): Promise<void> => { await new Promise(resolve => setImmediate(resolve)) }

for (const [name, maxIdlePerPeer] of [['protocol.pooled-streams', MAX_IDLE_STREAMS_PER_PEER], ['embeddings.pooled-streams', MAX_IDLE_EMBED_STREAMS_PER_PEER]] as const) {
  describe(`${name} at its bound (${maxIdlePerPeer} idle per peer, oldest closed)`, () => {
    it('should keep the newest maxIdlePerPeer streams released to one peer and close the older ones', async () => {
      const { node, opened } = fakeNode()
      const pool = createStreamPool(node, { maxIdlePerPeer })
      const peers: PeerId[] = await Promise.all([0, 1].map(async () => peerIdFromPrivateKey(await generateKeyPair('Ed25519'))))
      const over = 3
      for (const peer of peers) {
        const lent = await Promise.all(Array.from({ length: maxIdlePerPeer + over }, async () => await pool.open(peer, AbortSignal.timeout(5_000))))
        for (const s of lent) {
          s.release()
          assert.ok(pool.idle(peer) <= maxIdlePerPeer, `idle ${pool.idle(peer)} past ${maxIdlePerPeer}`)
        }
        assert.equal(pool.idle(peer), maxIdlePerPeer)
      }
      assert.equal(pool.size(), 2 * maxIdlePerPeer, 'the bound is per peer')
      const first = opened.slice(0, maxIdlePerPeer + over)
      assert.deepEqual(first.map(s => s.closedByPool), first.map((_, i) => i < over), 'the oldest released closed, the newest kept')
      // One peer's connection goes: its idle streams end and leave the pool.
      for (const s of first) s.source.end()
      await tick()
      assert.equal(pool.idle(peers[0] as PeerId), 0)
      assert.equal(pool.size(), maxIdlePerPeer)
      pool.close()
      assert.equal(pool.size(), 0)
    })
  })
}
