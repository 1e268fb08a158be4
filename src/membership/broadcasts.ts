import { subjectOf, type Update } from './messages.js'
import { MAX_TRACKED_PEERS, trimOldest } from '../util/capped.js'

/**
 * The dissemination queue (memberlist's TransmitLimitedQueue): each change is sent a bounded number
 * of times, `retransmitMult × ⌈log10(n + 1)⌉`, piggybacked on probes and on gossip rounds. That
 * many infection-style rounds reach every member with high probability (SWIM §4), and when nothing
 * changes the queue is empty and nothing is sent. A newer update about a peer replaces the older
 * one: only the latest word about each peer is worth spreading.
 */
export class BroadcastQueue {
  private readonly entries = new Map<string, { update: Update, transmits: number, order: number }>()
  private counter = 0

  /**
   * `limit`: subjects queued at most. Each is a member (or us) and is forgotten with the member, so
   * the view bounds it; the cap holds even so, dropping the update queued longest ago (anti-entropy
   * repairs what gossip missed).
   */
  constructor (private readonly retransmitMult: number, private readonly limit: number = MAX_TRACKED_PEERS) {}

  /** How many times each update is sent in a cluster of `n` members. */
  static limit (retransmitMult: number, n: number): number {
    return retransmitMult * Math.max(1, Math.ceil(Math.log10(n + 1)))
  }

  get size (): number {
    return this.entries.size
  }

  enqueue (update: Update): void {
    const subject = subjectOf(update)
    // Re-inserted: insertion order stays the order of queueing, oldest first for the cap.
    this.entries.delete(subject)
    this.entries.set(subject, { update, transmits: 0, order: this.counter++ })
    trimOldest(this.entries, this.limit)
  }

  /** Whether something about `peer` is still being spread. */
  has (peer: string): boolean {
    return this.entries.has(peer)
  }

  /** Drops what is queued about `peer` (it was removed from the view). */
  forget (peer: string): void {
    this.entries.delete(peer)
  }

  /**
   * Up to `max` updates for one outgoing message: the least-sent first (new news travels first),
   * newest first among equals. Each counts as one transmission; spent ones leave the queue.
   */
  take (max: number, n: number): Update[] {
    if (this.entries.size === 0 || max <= 0) return []
    const limit = BroadcastQueue.limit(this.retransmitMult, n)
    const chosen = [...this.entries.entries()]
      .sort(([, a], [, b]) => a.transmits - b.transmits || b.order - a.order)
      .slice(0, max)
    return chosen.map(([key, entry]) => {
      entry.transmits++
      if (entry.transmits >= limit) this.entries.delete(key)
      return entry.update
    })
  }
}
