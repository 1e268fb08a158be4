import type { Announcement } from './types.js'

/**
 * Why we say something new about ourselves. Every reason makes a new signed version
 * (incarnation, seq); what differs is who carries it.
 */
export type AnnounceReason =
  /** Start, and again when the first listener appears on the topic if the first publish reached no one. */
  | 'join'
  /** Models, digests, shared files, tier, enabled, addresses, name, API port or version changed. */
  | 'change'
  /** Only the load changed. */
  | 'load'
  /** A member holds us suspect or dead as of a version we have not moved past. */
  | 'refute'
  | 'leave'

export interface Carriers {
  /** Published on the gossipsub topic `harombe/membership/1`. */
  topic: boolean
  /** Queued for SWIM's dissemination (piggybacked on probes and acks, gossip rounds while queued). */
  swim: boolean
}

/**
 * Who carries each kind of announcement. With a topic: every change a user or a listener cares
 * about is pushed once over gossipsub (ecosystem tooling can listen; gossipsub's validator and
 * scoring guard it), and nothing periodic is ever published there. Load moves with every request,
 * so it stays off the topic: it rides SWIM (probe acks carry the newer announcement, completion
 * trailers carry load, and the dissemination queue spreads it a bounded number of times).
 * A join goes both ways: a new peer is in nobody's gossipsub mesh until heartbeats graft it (and
 * in a start wave nobody's mesh is formed yet), while SWIM piggybacks it on the first probes and
 * gossip rounds of its first contacts; it happens once per process start. Refutation goes both
 * ways: the verdict it answers spreads over SWIM and must be chased there (a queued update about a
 * peer replaces the older one). Leave goes both ways too: the goodbye is also sent directly to
 * every connected member and awaited, so it has arrived before the node stops.
 * Without a topic (the simulator), SWIM carries everything, as the membership rebuild did.
 */
export function carriersOf (reason: AnnounceReason, hasTopic: boolean): Carriers {
  if (!hasTopic) return { topic: false, swim: true }
  switch (reason) {
    case 'change':
      return { topic: true, swim: false }
    case 'load':
      return { topic: false, swim: true }
    case 'join':
    case 'refute':
    case 'leave':
      return { topic: true, swim: true }
  }
}

/** What a patch of our description changes: nothing, the load alone, or something else. */
export function changeOf<T extends { load: unknown }> (before: T, after: T): 'none' | 'load' | 'change' {
  const { load: loadBefore, ...restBefore } = before
  const { load: loadAfter, ...restAfter } = after
  if (!sameJson(restBefore, restAfter)) return 'change'
  return sameJson(loadBefore, loadAfter) ? 'none' : 'load'
}

/** Whether our announced addresses differ from the ones we would announce now. */
export function addressesChanged (current: Pick<Announcement, 'addrs'> | undefined, now: readonly string[]): boolean {
  return current != null && current.addrs.join('\n') !== now.join('\n')
}

/** Field order follows construction in both, so JSON equality is value equality here. */
function sameJson (a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b)
}
