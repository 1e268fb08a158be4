/**
 * Local health, after memberlist's Lifeguard: when this process's own timers fire late, the machine
 * is overloaded, and a peer's slow answer to a probe says more about us than about it. The
 * failure detector stretches its probe and suspicion bounds by the lag seen here, so a busy host does not declare
 * healthy peers dead (measured: ten peers starting together on 2 cores declared each other dead ~80
 * times with "ping timed out"). On an idle host the lag is ~0 and the bounds are unchanged, so a
 * stopped peer is still found within the profile's time.
 */

/** How much slack each millisecond of our own lag buys: a ping waits on our loop at both ends. */
export const LAG_SLACK_FACTOR = 4
/** The slack never exceeds this: a wedged process must still notice dead peers eventually. */
export const MAX_SLACK_MS = 10_000
/** Seen lag halves over this time once the load is gone. */
export const LAG_HALF_LIFE_MS = 3_000

export class LocalHealth {
  private lagMs = 0
  private lastTickAt: number | undefined

  constructor (private readonly tickMs: number) {}

  /** Records one firing of the detector's `tickMs` timer at `now`. */
  tick (now: number): void {
    if (this.lastTickAt != null) {
      const elapsed = now - this.lastTickAt
      const late = Math.max(0, elapsed - this.tickMs)
      this.lagMs = Math.max(late, this.lagMs * Math.pow(0.5, Math.max(0, elapsed) / LAG_HALF_LIFE_MS))
    }
    this.lastTickAt = now
  }

  /** The recent worst lag of our own timers, decaying. */
  get lag (): number {
    return this.lagMs
  }

  /** Extra time to allow before a late answer counts against a peer. */
  get slackMs (): number {
    return Math.min(MAX_SLACK_MS, Math.round(LAG_SLACK_FACTOR * this.lagMs))
  }
}
