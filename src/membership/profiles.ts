// Named timing profiles for membership. Tests use `test` instead of sleeping through `lan` timeouts.

export interface TimingProfile {
  /** How often a peer announces itself even when nothing changed. */
  heartbeatMs: number
  /**
   * Silence after which an alive peer is pinged directly. A stopped process (SIGSTOP, a hung VM)
   * keeps its connections open, so a late heartbeat plus a failed ping is the fast way to notice.
   */
  probeAfterMs: number
  /** Silence after which an alive peer becomes suspect. */
  suspectAfterMs: number
  /** How long a suspect peer may stay suspect before it is declared dead. */
  suspicionTimeoutMs: number
  /** A direct ping (including a dial) that takes longer than this counts as failed. */
  pingTimeoutMs: number
  /** Dead and left peers stay listed (greyed) this long, then are dropped. */
  retentionMs: number
  /** How often bootstrap peers and lost members are dialed again while disconnected. */
  redialIntervalMs: number
  /**
   * How often a dead member is pinged (dialed) again while it is still listed. After a partition
   * heals both sides hold each other dead and nobody else dials: this bounds re-convergence.
   */
  reconnectIntervalMs: number
  /**
   * How long a peer declared dead keeps its connections while it is streaming an answer to us. A
   * frozen process (SIGSTOP, a VM pause) that resumes within it finishes the answer; one that does
   * not fails it cleanly then. Attempts still waiting for a first token fail over at once anyway.
   */
  answeringGraceMs: number
  /** Resolution of the timeout clock; a fraction of the smallest timeout. */
  tickMs: number
  /** How long `start` may try to reach a bootstrap peer before it gives up (mDNS off). */
  joinTimeoutMs: number
}

export const PROFILES = {
  lan: {
    heartbeatMs: 1_000, // DESIGN: announce every second
    // A quarter interval late is already unusual on a LAN; a spurious probe costs one ping. Stopped
    // peer → dead within probeAfterMs + tickMs + pingTimeoutMs ≈ 2.35 s (issue 7: routed around within 3 s).
    probeAfterMs: 1_250,
    suspectAfterMs: 3_000, // DESIGN: three missed heartbeats make a peer suspect
    suspicionTimeoutMs: 5_000, // memberlist LAN: ~4 probe intervals before a suspect is dead
    // A LAN round trip is ~1 ms and a dial ~10 ms; 1 s absorbs a busy host and keeps the bound above.
    pingTimeoutMs: 1_000,
    retentionMs: 60_000, // DESIGN: dead/left stay listed 60 s so users see what happened
    redialIntervalMs: 5_000, // cheap on a LAN, and a restarted peer is found within seconds
    // One dial a second per dead member for its 60 s of retention is noise; a healed partition
    // re-converges within ~1 s of the link coming back (issue 7: within 5 s).
    reconnectIntervalMs: 1_000,
    // Longer than a VM pause or a debugger stop, short of a user giving up on a stalled answer.
    answeringGraceMs: 10_000,
    tickMs: 100, // detection latency includes one tick; a tenth of a second keeps the 3 s bound comfortable
    joinTimeoutMs: 30_000 // machines booting together: give the bootstrap peer time to come up
  },
  test: {
    heartbeatMs: 100, // loopback delivers in ~1 ms; 100 ms keeps tests fast without flooding
    probeAfterMs: 250, // two and a half intervals: a busy CI machine delays heartbeats, a ping is cheap
    suspectAfterMs: 500, // five missed heartbeats: tolerant of a busy 2-core CI machine
    suspicionTimeoutMs: 700,
    pingTimeoutMs: 500, // a loopback dial is ~9 ms; 500 ms tolerates a loaded CI box
    retentionMs: 10_000, // long enough for a test to observe dead/left before removal
    redialIntervalMs: 300,
    reconnectIntervalMs: 300, // as redial: tests that kill peers must not flood the loopback with dials
    answeringGraceMs: 2_000, // long enough for a test to freeze and resume a peer mid-answer
    tickMs: 50,
    joinTimeoutMs: 3_000
  }
} as const satisfies Record<string, TimingProfile>

export type ProfileName = keyof typeof PROFILES
