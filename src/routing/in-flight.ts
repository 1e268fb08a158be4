// Requests this peer has sent and not yet seen finish, per peer (itself included): the load it
// knows for sure. Announced load lags by up to a second (issue 12) and is blind to the requests
// an entry peer sent a moment ago, which is how four concurrent first turns all went to one peer
// (issue 23). The router reads the map as data; the dispatcher counts.

export interface InFlight {
  /** Counts one request to `peer`; call the returned function exactly once when it ends. */
  start: (peer: string) => () => void
  /** Live counts (absent = 0), read synchronously by the router. */
  counts: () => ReadonlyMap<string, number>
}

export function createInFlight (): InFlight {
  const counts = new Map<string, number>()
  return {
    start (peer) {
      counts.set(peer, (counts.get(peer) ?? 0) + 1)
      let done = false
      return () => {
        if (done) return
        done = true
        const left = (counts.get(peer) ?? 1) - 1
        // No entry for an idle peer: the map stays as small as the set of busy peers.
        if (left <= 0) counts.delete(peer)
        else counts.set(peer, left)
      }
    },
    counts: () => counts
  }
}
