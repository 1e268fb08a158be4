import assert from 'node:assert/strict'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { pushable, type Pushable } from 'it-pushable'
import { createLibp2pTransport } from '../../src/membership/libp2p-transport.js'
import type { MeshNode } from '../../src/mesh/node.js'
import { silentLogger } from '../../src/log.js'

/** A stream whose far side never answers; `end()` is the peer going away. */
interface FakeStream { status: 'open' | 'closed', source: Pushable<Uint8Array>, sink: (src: AsyncIterable<unknown>) => Promise<void>, close: () => Promise<void>, abort: () => void }

function fakeStream (): FakeStream {
  const source = pushable<Uint8Array>()
  const stream: FakeStream = {
    status: 'open',
    source,
    sink: async src => { for await (const _ of src) { /* swallowed: nobody answers */ } },
    close: async () => { stream.status = 'closed'; source.end() },
    abort: () => { stream.status = 'closed'; source.end() }
  }
  return stream
}

describe('membership transport: channels (bounded by open streams)', () => {
  it('should drop a channel when its stream ends, so departed peers leave nothing behind', async () => {
    const streams = new Map<string, FakeStream>()
    const node = {
      peerId: peerIdFromPrivateKey(await generateKeyPair('Ed25519')),
      dialProtocol: async (peer: { toString: () => string }) => {
        const stream = fakeStream()
        streams.set(peer.toString(), stream)
        return stream
      },
      getConnections: () => []
    } as unknown as MeshNode
    const transport = createLibp2pTransport(node, silentLogger())
    const peers = await Promise.all([1, 2, 3].map(async () => peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()))
    for (const peer of peers) {
      // Nobody answers: the request times out, the channel stays open.
      await assert.rejects(transport.request(peer, { type: 'ping' } as any, AbortSignal.timeout(5)))
    }
    assert.equal(transport.channels, 3)
    // The same peer again reuses its channel.
    await assert.rejects(transport.request(peers[0] as string, { type: 'ping' } as any, AbortSignal.timeout(5)))
    assert.equal(transport.channels, 3)
    assert.equal(streams.size, 3)

    streams.get(peers[0] as string)?.source.end()
    streams.get(peers[1] as string)?.source.end(new Error('reset'))
    await new Promise(resolve => setImmediate(resolve))
    assert.equal(transport.channels, 1, 'the two channels whose streams ended are gone')
    await transport.stop().catch(() => {})
    assert.equal(transport.channels, 0)
  })
})
