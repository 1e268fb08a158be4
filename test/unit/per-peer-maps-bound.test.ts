import assert from 'node:assert/strict'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { PeerId } from '@libp2p/interface'
import { addressesChanged, deferHangUp, exchangeDue, EXCHANGE_ON_CONNECT_EVERY_MS, MAX_EXCHANGED_AT, type DeferredHangUp } from '../../src/membership/member-maps.js'
import { CLOSED_ON_PURPOSE_MS, rememberClosed } from '../../src/mesh/connection-trimmer.js'
import { cachedPeerId, recordTrailerLoad, type TrailerLoad } from '../../src/completion/peer-caches.js'
import { createInFlight } from '../../src/routing/in-flight.js'
import { MAX_TRACKED_PEERS } from '../../src/util/capped.js'
import type { Load } from '../../src/membership/types.js'

// Issue 25, acceptance 2: each per-peer structure filled past its bound through the function that
// owns it; the size never exceeds the bound, and the entry pushed out (or refused) is the one the
// policy names. The bounds are the production ones, not smaller test values.

const peer = (i: number): string => `peer-${i}`
const load = (queued: number): Load => ({ active: 0, queued, capacity: 1 })

describe('membership.exchanged-at at its bound (MAX_EXCHANGED_AT, cleared past it)', () => {
  it('should hold at most MAX_EXCHANGED_AT peers, clear on the insert past it, and then let the forgotten peers exchange again', () => {
    const exchangedAt = new Map<string, number>()
    let largest = 0
    for (let i = 0; i < MAX_EXCHANGED_AT; i++) {
      assert.equal(exchangeDue(exchangedAt, peer(i), 0), true)
      largest = Math.max(largest, exchangedAt.size)
    }
    assert.equal(exchangedAt.size, MAX_EXCHANGED_AT, 'full, nothing dropped yet')
    // Within the window a peer already met is refused, and refusing adds nothing.
    assert.equal(exchangeDue(exchangedAt, peer(0), 1), false)
    assert.equal(exchangedAt.size, MAX_EXCHANGED_AT)
    // One more peer takes it past the bound: the whole map goes.
    assert.equal(exchangeDue(exchangedAt, peer(MAX_EXCHANGED_AT), 2), true)
    largest = Math.max(largest, exchangedAt.size)
    assert.equal(exchangedAt.size, 0)
    assert.equal(largest, MAX_EXCHANGED_AT, 'never above the bound')
    // Forgetting costs one extra push-pull, not a missed one.
    assert.equal(exchangeDue(exchangedAt, peer(0), 3), true)
    assert.equal(exchangeDue(exchangedAt, peer(0), 3 + EXCHANGE_ON_CONNECT_EVERY_MS), true, 'due again after the window')
  })
})

describe('membership.stored-addrs at its bound (MAX_TRACKED_PEERS, oldest out)', () => {
  it('should keep the newest MAX_TRACKED_PEERS members and push out the oldest', () => {
    const stored = new Map<string, string>()
    const over = 5
    for (let i = 0; i < MAX_TRACKED_PEERS + over; i++) {
      assert.equal(addressesChanged(stored, peer(i), `/ip4/127.0.0.1/tcp/${i}`), true)
      assert.ok(stored.size <= MAX_TRACKED_PEERS, `size ${stored.size} after ${i + 1} inserts`)
    }
    assert.equal(stored.size, MAX_TRACKED_PEERS)
    for (let i = 0; i < over; i++) assert.equal(stored.has(peer(i)), false, `${peer(i)} (oldest) pushed out`)
    assert.equal(stored.has(peer(over)), true)
    assert.equal(stored.has(peer(MAX_TRACKED_PEERS + over - 1)), true)
    // Same addresses: no write, no entry added.
    assert.equal(addressesChanged(stored, peer(over), `/ip4/127.0.0.1/tcp/${over}`), false)
    // A pushed-out member's addresses are written again (one more peer-store write), the oldest goes.
    assert.equal(addressesChanged(stored, peer(0), '/ip4/127.0.0.1/tcp/0'), true)
    assert.equal(stored.size, MAX_TRACKED_PEERS)
    assert.equal(stored.has(peer(over)), false)
  })
})

describe('membership.hang-ups at its bound (MAX_TRACKED_PEERS, the one past it refused)', () => {
  it('should defer at most MAX_TRACKED_PEERS hang-ups and refuse the next (hung up at once)', () => {
    const hangUpAt = new Map<string, DeferredHangUp>()
    for (let i = 0; i < MAX_TRACKED_PEERS; i++) assert.equal(deferHangUp(hangUpAt, peer(i), { at: i, reason: 'dead' }), true)
    assert.equal(deferHangUp(hangUpAt, peer(MAX_TRACKED_PEERS), { at: 0, reason: 'dead' }), false, 'refused when full')
    assert.equal(hangUpAt.size, MAX_TRACKED_PEERS)
    assert.equal(hangUpAt.has(peer(MAX_TRACKED_PEERS)), false)
    assert.equal(hangUpAt.get(peer(0))?.at, 0, 'the deferred ones are kept as they were')
    // A peer deferred already is due now (its grace is over), not deferred twice.
    hangUpAt.delete(peer(1))
    assert.equal(deferHangUp(hangUpAt, peer(0), { at: 99, reason: 'dead' }), false)
    assert.equal(hangUpAt.get(peer(0))?.at, 0)
  })
})

describe('mesh.closed-on-purpose at its bound (MAX_TRACKED_PEERS, oldest out; expired after the window)', () => {
  it('should hold at most MAX_TRACKED_PEERS however many a round closes, oldest out first', () => {
    const closedAt = new Map<string, number>()
    const round = 300
    let next = 0
    // Rounds within one window: nothing expires, only the cap holds the size.
    for (let r = 0; r < 5; r++) {
      rememberClosed(closedAt, Array.from({ length: round }, () => peer(next++)), r)
      assert.ok(closedAt.size <= MAX_TRACKED_PEERS, `size ${closedAt.size} after round ${r}`)
    }
    assert.equal(closedAt.size, MAX_TRACKED_PEERS)
    const dropped = next - MAX_TRACKED_PEERS
    assert.equal(closedAt.has(peer(dropped - 1)), false, 'the oldest pushed out')
    assert.equal(closedAt.has(peer(dropped)), true)
    assert.equal(closedAt.has(peer(next - 1)), true, 'the newest kept')
    // A round a window later forgets all of them.
    rememberClosed(closedAt, [peer(next)], 4 + CLOSED_ON_PURPOSE_MS)
    assert.deepEqual([...closedAt.keys()], [peer(next)])
  })
})

describe('completion.trailer-load at its bound (MAX_TRACKED_PEERS, least recently answered out)', () => {
  it('should keep the peers that answered most recently', () => {
    const trailerLoad = new Map<string, TrailerLoad>()
    for (let i = 0; i < MAX_TRACKED_PEERS; i++) recordTrailerLoad(trailerLoad, peer(i), { load: load(i), at: i })
    // peer-0 answers again: now the most recent, so peer-1 is the next to go.
    recordTrailerLoad(trailerLoad, peer(0), { load: load(7), at: MAX_TRACKED_PEERS })
    assert.equal(trailerLoad.size, MAX_TRACKED_PEERS)
    recordTrailerLoad(trailerLoad, peer(MAX_TRACKED_PEERS), { load: load(1), at: MAX_TRACKED_PEERS + 1 })
    assert.equal(trailerLoad.size, MAX_TRACKED_PEERS)
    assert.equal(trailerLoad.has(peer(1)), false, 'least recently answered pushed out')
    assert.equal(trailerLoad.get(peer(0))?.at, MAX_TRACKED_PEERS, 'the re-recorded one kept, latest value')
    assert.equal(trailerLoad.has(peer(MAX_TRACKED_PEERS)), true)
  })
})

describe('completion.peer-ids at its bound (MAX_TRACKED_PEERS, oldest parsed out)', () => {
  it('should parse each id once and keep at most MAX_TRACKED_PEERS', async () => {
    const ids = await Promise.all(Array.from({ length: MAX_TRACKED_PEERS + 2 }, async () => peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()))
    const peerIds = new Map<string, PeerId>()
    for (const id of ids) {
      assert.equal(cachedPeerId(peerIds, id).toString(), id)
      assert.ok(peerIds.size <= MAX_TRACKED_PEERS)
    }
    assert.equal(peerIds.size, MAX_TRACKED_PEERS)
    assert.equal(peerIds.has(ids[0] as string), false)
    assert.equal(peerIds.has(ids[1] as string), false)
    assert.equal(peerIds.has(ids[2] as string), true)
    const kept = peerIds.get(ids[2] as string)
    assert.equal(cachedPeerId(peerIds, ids[2] as string), kept, 'a cached id is the same object, not parsed again')
  })
})

describe('routing.in-flight: bounded by the busy peers (an entry only while a request to it runs)', () => {
  it('should hold one entry per peer with a request running, and none once all have ended', () => {
    const inFlight = createInFlight()
    const n = 2 * MAX_TRACKED_PEERS
    const ends: Array<() => void> = []
    for (let i = 0; i < n; i++) {
      ends.push(inFlight.start(peer(i)))
      ends.push(inFlight.start(peer(i)))
    }
    assert.equal(inFlight.counts().size, n, 'one entry per busy peer, not per request')
    assert.equal(inFlight.counts().get(peer(0)), 2)
    for (const end of ends) {
      end()
      end() // a second call changes nothing
    }
    assert.equal(inFlight.counts().size, 0, 'an idle peer leaves no entry')
  })
})
