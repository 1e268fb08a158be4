import '../../src/polyfill.js'
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
// The outside listener is built from the ecosystem's packages only: none of our mesh code.
import { createLibp2p, type Libp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { gossipsub, type GossipsubEvents } from '@chainsafe/libp2p-gossipsub'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { Message, PubSub } from '@libp2p/interface'
import { createPeer, type Peer } from '../../src/peer.js'
import { signAnnouncement, verifyAnnouncement } from '../../src/membership/announcement.js'
import type { Announcement } from '../../src/membership/types.js'
import { pollUntil } from '../helpers/wait.js'
import { GOSSIP_HEARTBEAT_MS, GOSSIP_SCORE_DECAY_MS } from '../../src/mesh/constants.js'

const TOPIC = 'harombe/membership/1'

type Listener = Libp2p<{ identify: ReturnType<ReturnType<typeof identify>>, pubsub: PubSub<GossipsubEvents> }>

async function plainListener (): Promise<Listener> {
  return await createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: {
      identify: identify(),
      // Our announcements carry their own signature: the topic's messages are unsigned.
      pubsub: gossipsub({ globalSignaturePolicy: 'StrictNoSign', allowPublishToZeroTopicPeers: true })
    }
  }) as unknown as Listener
}

const decode = (m: Message): Announcement => JSON.parse(new TextDecoder().decode(m.data))

describe('membership announcements on gossipsub, heard by a plain libp2p node', function () {
  this.timeout(40_000)
  let root: string
  const peers: Peer[] = []
  let listener: Listener | undefined

  beforeEach(async () => { root = await mkdtemp(join(tmpdir(), 'harombe-gossip-')) })
  afterEach(async () => {
    await listener?.stop()
    listener = undefined
    await Promise.all(peers.splice(0).map(async p => { await p.stop().catch(() => {}) }))
    await rm(root, { recursive: true, force: true })
  })

  const start = async (name: string, bootstrap?: string[]): Promise<Peer> => {
    const peer = createPeer({ name, dataDir: join(root, name), apiPort: 0, listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, profile: 'test', ...(bootstrap != null ? { bootstrap } : {}) })
    peers.push(peer)
    await peer.start()
    return peer
  }

  /** The listener connected to `peer`, and both in each other's topic mesh (a gossipsub heartbeat, ~1 s). */
  const attach = async (l: Listener, peer: Peer): Promise<void> => {
    await l.dial(peer.mesh().getMultiaddrs())
    const id = peer.info().peerId
    await pollUntil(() => (l.services.pubsub as any).getMeshPeers(TOPIC).includes(id), 10_000, `the listener's mesh to hold ${peer.info().name}`)
  }

  it('should hear a new peer\'s signed announcement, then nothing while nothing changes', async () => {
    const a = await start('a')
    listener = await plainListener()
    await listener.start()
    const heard: Announcement[] = []
    listener.services.pubsub.addEventListener('message', e => { if (e.detail.topic === TOPIC) heard.push(decode(e.detail)) })
    listener.services.pubsub.subscribe(TOPIC)
    await attach(listener, a)

    const b = await start('b', [a.info().meshAddrs[0] ?? ''])
    const bId = b.info().peerId
    await pollUntil(() => heard.some(x => x.peer_id === bId), 10_000, 'b\'s announcement on the topic')
    const first = heard.find(x => x.peer_id === bId) as Announcement
    assert.equal(first.name, 'b')
    assert.equal(first.state, 'alive')
    assert.equal(await verifyAnnouncement(first), true, 'signed by b\'s own key')

    // Probes, acks and view exchanges run on (test profile: a probe every 100 ms); the topic stays quiet.
    await new Promise(resolve => setTimeout(resolve, 300))
    const settled = heard.length
    await new Promise(resolve => setTimeout(resolve, 3_000))
    assert.deepEqual(heard.slice(settled).map(x => `${x.name} ${x.seq}`), [], 'nothing published while nothing changed')

    // A change is news: b's tier moves, published once.
    b.membership().updateSelf({ tier: 2 })
    await pollUntil(() => heard.some(x => x.peer_id === bId && x.tier === 2), 5_000, 'b\'s tier change on the topic')
  })

  it('should have every peer reject a forged announcement, which never enters a view', async () => {
    const a = await start('a')
    const b = await start('b', [a.info().meshAddrs[0] ?? ''])
    await pollUntil(() => a.cluster().peers.length === 2 && b.cluster().peers.length === 2, 10_000, 'a and b to know each other')
    listener = await plainListener()
    await listener.start()
    listener.services.pubsub.subscribe(TOPIC)
    await attach(listener, a)
    await attach(listener, b)
    const rejectedBefore = [a, b].map(p => p.membership().gossipCounts().rejected)

    const bId = b.info().peerId
    const bAnn = b.cluster().peers.find(p => p.peer_id === bId)
    assert.ok(bAnn != null)
    const stranger = await generateKeyPair('Ed25519')
    const base: Announcement = {
      peer_id: bId, name: 'b', incarnation: Number.MAX_SAFE_INTEGER, seq: 1, state: 'leaving', models: [], tier: 0,
      enabled: false, load: { active: 0, queued: 0, capacity: 0 }, api_port: 1, addrs: [], version: 'x'
    }
    // b "leaving", signed by a stranger's key; a stranger claiming a fresh peer id not its own.
    const spoofed = await signAnnouncement({ ...base, name: 'forged-leave' }, stranger)
    const otherId = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
    const impostor = await signAnnouncement({ ...base, peer_id: otherId, name: 'impostor', state: 'alive' }, stranger)
    const encode = (x: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(x))
    for (const forged of [spoofed, impostor]) {
      const { recipients } = await listener.services.pubsub.publish(TOPIC, encode(forged))
      assert.deepEqual(recipients.map(r => r.toString()).sort(), [a.info().peerId, bId].sort(), 'sent to both peers (flood publish)')
    }
    await pollUntil(() => [a, b].every((p, i) => p.membership().gossipCounts().rejected >= (rejectedBefore[i] ?? 0) + 2), 5_000, 'both peers to reject both forgeries')
    for (const p of [a, b]) {
      const names = p.cluster().peers.map(x => x.name).sort()
      assert.deepEqual(names, ['a', 'b'], `${p.info().name}'s view`)
      assert.equal(p.cluster().peers.find(x => x.peer_id === bId)?.state, 'alive', `${p.info().name} still holds b alive`)
    }
    // Each Reject costs the sender score at that peer (scores are recomputed at the heartbeat or the decay round).
    const forger = listener.peerId.toString()
    await pollUntil(() => [a, b].every(p => (p.mesh().services.pubsub as any).getScore(forger) < 0), Math.max(GOSSIP_HEARTBEAT_MS, GOSSIP_SCORE_DECAY_MS) + 3_000, 'both peers to score the forger down')
  })
})
