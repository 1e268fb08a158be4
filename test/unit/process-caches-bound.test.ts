import assert from 'node:assert/strict'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { isPeerId, knownPeerIdCache } from '../../src/membership/announcement.js'
import { peerHashCache, rendezvousScore } from '../../src/routing/affinity.js'

// Issue 25, acceptance 2: the two process-wide caches (shared by every peer in the process, so not
// in a peer's BoundedRegistry), filled past their bound through the functions that own them. Other
// tests in the same process may have filled them already, so each fills with limit + 1 new keys:
// more than fit, so the clear must happen at least once, whatever the start.

/**
 * Runs each insert in turn and checks the cache after each: never past `limit`, filled to it, and
 * cleared at least once when full (a clear leaves only the newest entry).
 */
function fillPastBound (limit: number, size: () => number, inserts: Array<() => void>): void {
  let largest = 0
  let clears = 0
  let before = size()
  for (const insert of inserts) {
    insert()
    const now = size()
    assert.ok(now <= limit, `size ${now} past ${limit}`)
    if (now < before) {
      clears++
      assert.equal(now, 1, 'cleared, then the new entry added')
    }
    largest = Math.max(largest, now)
    before = now
  }
  assert.equal(largest, limit, 'filled to the bound')
  assert.ok(clears >= 1, 'cleared at least once')
}

describe('isPeerId cache at its bound (4096 ids, cleared when full)', () => {
  it('should never hold more than its limit, clear when full, and keep only valid ids', async () => {
    const { limit } = knownPeerIdCache()
    assert.equal(limit, 4096)
    const ids = await Promise.all(Array.from({ length: limit + 1 }, async () => peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()))
    fillPastBound(limit, () => knownPeerIdCache().size, ids.map(id => () => { assert.equal(isPeerId(id), true) }))
    // Junk is refused and never stored.
    const size = knownPeerIdCache().size
    assert.equal(isPeerId('not-a-peer-id'), false)
    assert.equal(knownPeerIdCache().size, size)
    // A cleared id still checks (parsed again).
    assert.equal(isPeerId(ids[0] as string), true)
  })
})

describe('rendezvous peer-hash cache at its bound (4096 ids, cleared when full)', () => {
  it('should never hold more than its limit, clear when full, and score the same after a clear', () => {
    const { limit } = peerHashCache()
    assert.equal(limit, 4096)
    const first = rendezvousScore(7, 'bound-test-peer-0')
    fillPastBound(limit, () => peerHashCache().size, Array.from({ length: limit + 1 }, (_, i) => () => { rendezvousScore(7, `bound-test-peer-${i + 1}`) }))
    assert.equal(rendezvousScore(7, 'bound-test-peer-0'), first, 'a dropped hash is recomputed the same')
  })
})
