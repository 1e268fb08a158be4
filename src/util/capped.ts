// Hard caps for maps and sets keyed by peer, request, stream or model (issue 25). A Map and a Set
// iterate in insertion order, so the first key is the oldest insert: dropping from the front is
// O(1) per entry and needs no timer. Callers that want least-recently-used order re-insert on use.

/** What `trimOldest` needs: a Map or a Set. */
interface Keyed<K> {
  readonly size: number
  keys: () => IterableIterator<K>
  delete: (key: K) => boolean
}

/** Drops the oldest entries until `keyed` holds at most `limit`; returns the keys dropped, oldest first. */
export function trimOldest<K> (keyed: Keyed<K>, limit: number): K[] {
  const dropped: K[] = []
  if (keyed.size <= limit) return dropped
  for (const key of keyed.keys()) {
    if (keyed.size <= limit) break
    keyed.delete(key)
    dropped.push(key)
  }
  return dropped
}

/**
 * Peers any per-peer structure tracks at most, the membership view included. A home lab has tens;
 * at 1,024 announcements of ≤ 4 KiB (MAX_ANNOUNCEMENT_BYTES) the view alone stays under 4 MiB, and
 * every map keyed by member stays small however long the peer runs and however many come and go.
 */
export const MAX_TRACKED_PEERS = 1_024

/** Keys already told about, for a log line said once per key (a peer, a model clash). */
export interface Once {
  /** True the first time `key` is seen (since it was forgotten or pushed out). */
  first: (key: string) => boolean
  forget: (key: string) => void
  readonly size: number
}

/**
 * `first(key)` is true once per key. At most `limit` keys are remembered, the oldest pushed out
 * first: such a set used to grow with every key ever warned about (an outsider's peer id, a model
 * name), and forgetting one only means its line may be said once more.
 */
export function createOnce (limit: number): Once {
  const seen = new Set<string>()
  return {
    first (key) {
      if (seen.has(key)) return false
      seen.add(key)
      trimOldest(seen, limit)
      return true
    },
    forget (key) { seen.delete(key) },
    get size () { return seen.size }
  }
}
