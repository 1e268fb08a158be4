import { MAX_TRACKED_PEERS, trimOldest } from '../util/capped.js'

// Round-trip time to each member, from our own SWIM probes on the already-open membership channel:
// it measures the network and the peer's answer, not the cost of opening a stream (issue 15: the
// libp2p ping we used before read 13–21 ms on loopback, where the real round trip is well under 1).

/** Samples kept per member for the median: ~80 s of them on the lan profile (one echo per member every rttSampleIntervalMs). */
export const RTT_WINDOW = 16

/** One member's estimate: TCP's smoothed RTT and its variance (RFC 6298), plus the median of recent samples. */
export interface RttEstimate {
  /** Smoothed RTT (α = 1/8): what routing sorts by, one slow answer does not swing it. */
  srttMs: number
  /** Mean deviation (β = 1/4): how much the round trip wanders. */
  rttvarMs: number
  /** Median of the last RTT_WINDOW samples: what status, test and /metrics show. */
  p50Ms: number
  samples: number
}

interface State {
  srtt: number
  rttvar: number
  recent: number[]
  samples: number
}

/** Pure step: the estimate after one more sample (RFC 6298 section 2). */
export function nextEstimate (state: Readonly<State> | undefined, sampleMs: number): State {
  if (state == null) return { srtt: sampleMs, rttvar: sampleMs / 2, recent: [sampleMs], samples: 1 }
  const rttvar = 0.75 * state.rttvar + 0.25 * Math.abs(state.srtt - sampleMs)
  const srtt = 0.875 * state.srtt + 0.125 * sampleMs
  const recent = state.recent.length >= RTT_WINDOW ? [...state.recent.slice(1), sampleMs] : [...state.recent, sampleMs]
  return { srtt, rttvar, recent, samples: state.samples + 1 }
}

/**
 * Pure rule: whether an answered probe of a member is followed by a round-trip echo now. The first
 * answer always is (a new member gets an estimate at once); later ones once `intervalMs` has passed
 * since the last echo (0: every time).
 */
export function echoDue (lastEchoAt: number | undefined, now: number, intervalMs: number): boolean {
  return lastEchoAt == null || now - lastEchoAt >= intervalMs
}

export function median (values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid] as number : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2
}

/** Per-member estimates, fed by probe acks. */
export class RttTable {
  private readonly states = new Map<string, State>()
  // Kept up to date rather than built per call: routing reads it for every request.
  private readonly srtts = new Map<string, number>()

  /** `limit`: members tracked at most (the view's own bound); a probe answered after its member was removed must not put it back for good. */
  constructor (private readonly limit: number = MAX_TRACKED_PEERS) {}

  add (peer: string, sampleMs: number): void {
    if (!Number.isFinite(sampleMs) || sampleMs < 0) return
    const known = this.states.get(peer)
    const next = nextEstimate(known, sampleMs)
    this.states.set(peer, next)
    this.srtts.set(peer, next.srtt)
    if (known == null) for (const dropped of trimOldest(this.states, this.limit)) this.srtts.delete(dropped)
  }

  /** Members with an estimate. */
  get size (): number {
    return this.states.size
  }

  delete (peer: string): void {
    this.states.delete(peer)
    this.srtts.delete(peer)
  }

  get (peer: string): RttEstimate | undefined {
    const s = this.states.get(peer)
    return s == null ? undefined : { srttMs: s.srtt, rttvarMs: s.rttvar, p50Ms: median(s.recent), samples: s.samples }
  }

  /** The smoothed RTT by member, as routing takes it (a live view, not a copy). */
  smoothed (): ReadonlyMap<string, number> {
    return this.srtts
  }

  /** The median of recent samples by member, as users are shown it. */
  medians (): Map<string, number> {
    return new Map([...this.states].map(([peer, s]) => [peer, median(s.recent)]))
  }
}
