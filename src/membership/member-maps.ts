// The membership service's maps keyed by peer, as pure functions over the map they own, so each
// can be filled past its bound in a unit test (issue 25). The service holds the maps; these decide.
import { MAX_TRACKED_PEERS, trimOldest } from '../util/capped.js'

/** A new connection triggers a push-pull unless we exchanged views with that peer this recently. */
export const EXCHANGE_ON_CONNECT_EVERY_MS = 30_000

/** Peers remembered for EXCHANGE_ON_CONNECT_EVERY_MS: any peer that connects, member or not, so dropped wholesale past it. */
export const MAX_EXCHANGED_AT = 4096

/**
 * True when `peer` is due a push-pull at `now`, and records it. Cleared as soon as an insert takes
 * the map past `limit`: forgetting costs at most one extra push-pull per peer, never a missed one.
 */
export function exchangeDue (exchangedAt: Map<string, number>, peer: string, now: number, limit = MAX_EXCHANGED_AT): boolean {
  if (now - (exchangedAt.get(peer) ?? -Infinity) < EXCHANGE_ON_CONNECT_EVERY_MS) return false
  exchangedAt.set(peer, now)
  if (exchangedAt.size > limit) exchangedAt.clear()
  return true
}

/**
 * True when `peerId`'s announced addresses (`key`) differ from those last put in the peer store,
 * and records them. Entries are forgotten with the member, so the view (≤ MAX_TRACKED_PEERS)
 * bounds the map; the cap only backs that up: a key pushed out means one more peer-store write.
 */
export function addressesChanged (storedAddrs: Map<string, string>, peerId: string, key: string, limit = MAX_TRACKED_PEERS): boolean {
  if (storedAddrs.get(peerId) === key) return false
  storedAddrs.set(peerId, key)
  trimOldest(storedAddrs, limit)
  return true
}

export interface DeferredHangUp { at: number, reason: string }

/**
 * Defers hanging up on a dead member still answering us; false when it must be hung up now: it is
 * deferred already (its grace is over) or `limit` members are deferred (only dead members in the
 * view are, so that cannot happen unless the view outgrew its bound; a refused one just loses its grace).
 */
export function deferHangUp (hangUpAt: Map<string, DeferredHangUp>, peerId: string, deferred: DeferredHangUp, limit = MAX_TRACKED_PEERS): boolean {
  if (hangUpAt.has(peerId) || hangUpAt.size >= limit) return false
  hangUpAt.set(peerId, deferred)
  return true
}
