// The per-peer caches of the completion service (trailer load, parsed peer ids) as functions over
// the map they own, so each can be filled past its bound in a unit test (issue 25). Both are
// forgotten with the member too (peer-completions.ts, onViewChange); the cap catches the rest.
import { peerIdFromString } from '@libp2p/peer-id'
import type { PeerId } from '@libp2p/interface'
import type { Load } from '../membership/types.js'
import { MAX_TRACKED_PEERS, trimOldest } from '../util/capped.js'

export interface TrailerLoad { load: Load, at: number }

/** Records `peer`'s latest trailer load as the newest entry; past `limit` the least recently answered peer goes. */
export function recordTrailerLoad (trailerLoad: Map<string, TrailerLoad>, peer: string, seen: TrailerLoad, limit = MAX_TRACKED_PEERS): void {
  trailerLoad.delete(peer)
  trailerLoad.set(peer, seen)
  trimOldest(trailerLoad, limit)
}

/** The PeerId for `id`, parsed once; past `limit` the oldest parsed goes (a request still routed to a member just forgotten puts it back). */
export function cachedPeerId (peerIds: Map<string, PeerId>, id: string, limit = MAX_TRACKED_PEERS): PeerId {
  let peerId = peerIds.get(id)
  if (peerId == null) {
    peerId = peerIdFromString(id)
    peerIds.set(id, peerId)
    trimOldest(peerIds, limit)
  }
  return peerId
}
