// Named timing profiles for membership. Tests use `test` instead of sleeping through `lan` timeouts.

export interface TimingProfile {
  /** How often a peer announces itself even when nothing changed. */
  heartbeatMs: number
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
  /** Resolution of the timeout clock; a fraction of the smallest timeout. */
  tickMs: number
  /** How long `start` may try to reach a bootstrap peer before it gives up (mDNS off). */
  joinTimeoutMs: number
}

export const PROFILES = {
  lan: {
    heartbeatMs: 1_000, // DESIGN: announce every second
    suspectAfterMs: 3_000, // DESIGN: three missed heartbeats make a peer suspect
    suspicionTimeoutMs: 5_000, // memberlist LAN: ~4 probe intervals before a suspect is dead
    pingTimeoutMs: 2_000, // a LAN round trip is ~1 ms; 2 s absorbs a dial through a busy host
    retentionMs: 60_000, // DESIGN: dead/left stay listed 60 s so users see what happened
    redialIntervalMs: 5_000, // cheap on a LAN, and a restarted peer is found within seconds
    tickMs: 250, // a quarter second is finer than any user-visible bound above
    joinTimeoutMs: 30_000 // machines booting together: give the bootstrap peer time to come up
  },
  test: {
    heartbeatMs: 100, // loopback delivers in ~1 ms; 100 ms keeps tests fast without flooding
    suspectAfterMs: 500, // five missed heartbeats: tolerant of a busy 2-core CI machine
    suspicionTimeoutMs: 700,
    pingTimeoutMs: 500, // a loopback dial is ~9 ms; 500 ms tolerates a loaded CI box
    retentionMs: 10_000, // long enough for a test to observe dead/left before removal
    redialIntervalMs: 300,
    tickMs: 50,
    joinTimeoutMs: 3_000
  }
} as const satisfies Record<string, TimingProfile>

export type ProfileName = keyof typeof PROFILES
