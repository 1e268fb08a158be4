// Named timing profiles for membership. Tests use `test` instead of sleeping through `lan` timeouts.

export interface TimingProfile {
  /** SWIM's protocol period: each period one member is probed (round-robin over a shuffled list). */
  probeIntervalMs: number
  /** A direct probe not answered within this asks `indirectChecks` others to probe for us. */
  probeTimeoutMs: number
  /** How many members are asked to probe a silent member for us before we suspect it (SWIM's k). */
  indirectChecks: number
  /** How long a suspect peer may stay suspect before it is declared dead (at N ≤ 10; grows with log10 N). */
  suspicionTimeoutMs: number
  /** How often queued changes are pushed to `gossipFanout` random members; nothing is sent when none are queued. */
  gossipIntervalMs: number
  /** Members each gossip round goes to. */
  gossipFanout: number
  /** Each change is sent retransmitMult × ⌈log10(N + 1)⌉ times (memberlist's RetransmitMult). */
  retransmitMult: number
  /** Push-pull of the full view with one random member, about this often (jittered ±50 %, scaled up above 32 members). */
  antiEntropyIntervalMs: number
  /** A direct ping (including a dial) that takes longer than this counts as failed. */
  pingTimeoutMs: number
  /** Dead and left peers stay listed (greyed) this long, then are dropped. */
  retentionMs: number
  /** How often bootstrap peers and lost members are dialed again while disconnected. */
  redialIntervalMs: number
  /**
   * How often a dead member is probed again while it is still listed. After a partition heals
   * both sides hold each other dead and nobody else probes them: this bounds re-convergence.
   */
  reconnectIntervalMs: number
  /**
   * How long a peer declared dead keeps its connections while it is streaming an answer to us. A
   * frozen process (SIGSTOP, a VM pause) that resumes within it finishes the answer; one that does
   * not fails it cleanly then. Attempts still waiting for a first token fail over at once anyway.
   */
  answeringGraceMs: number
  /**
   * At most one round-trip echo per member this often (0: after every answered probe). Each echo is
   * a request and a reply on both peers, as many messages as the probe itself; the estimate only
   * needs a steady trickle of samples.
   */
  rttSampleIntervalMs: number
  /** Resolution of the timeout clock and of the local-health lag measurement. */
  tickMs: number
  /** How long `start` may try to reach a bootstrap peer before it gives up (mDNS off). */
  joinTimeoutMs: number
  /** How often the cluster file's nodes are checked over HTTP (their state in status, their mesh address). */
  listedCheckIntervalMs: number
  /** How often the backend's model list is asked again, so announced models follow `ollama pull` / `ollama rm`. */
  modelCheckIntervalMs: number
}

export const PROFILES = {
  lan: {
    // A stopped peer (SIGSTOP) is probed by someone within about one period at any N (SWIM), then
    // suspect ≤ probeTimeout + one more period later: ≤ 3 s (issue 7). memberlist LAN uses 1 s.
    probeIntervalMs: 500,
    probeTimeoutMs: 250, // a LAN round trip is ~1 ms and a new stream a few; 250 ms absorbs a busy host
    indirectChecks: 3, // memberlist's IndirectChecks
    suspicionTimeoutMs: 5_000, // memberlist LAN: SuspicionMult 4 × log10(N) × 1 s, floor at N ≤ 10
    gossipIntervalMs: 200, // memberlist LAN GossipInterval
    gossipFanout: 3, // memberlist LAN GossipNodes
    retransmitMult: 4, // memberlist LAN RetransmitMult
    antiEntropyIntervalMs: 20_000, // the 10–30 s; memberlist pushes and pulls every 30 s
    pingTimeoutMs: 1_000, // a dial is ~10 ms; 1 s absorbs a busy host
    retentionMs: 60_000, // DESIGN: dead/left stay listed 60 s so users see what happened
    redialIntervalMs: 5_000, // cheap on a LAN, and a restarted peer is found within seconds
    // A probe a second per dead member for its 60 s of retention is noise; a healed partition
    // re-converges within ~1 s of the link coming back (issue 7: within 5 s).
    reconnectIntervalMs: 1_000,
    // Longer than a VM pause or a debugger stop, short of a user giving up on a stalled answer.
    answeringGraceMs: 10_000,
    // An echo after every probe doubled the exchanges of an idle peer for an estimate that moves
    // slowly on a LAN. One per member every 5 s (its median then spans ~80 s of samples; a new
    // member is sampled at once): at N = 5 a peer's socket writes went 9.8 → 5.9 a second.
    rttSampleIntervalMs: 5_000,
    tickMs: 100, // detection latency includes one tick; a tenth of a second keeps the bounds comfortable
    joinTimeoutMs: 30_000, // machines booting together: give the bootstrap peer time to come up
    // A handful of small GETs per interval; a listed node that comes up is in every view within ~3 s
    listedCheckIntervalMs: 2_000,
    // One cheap GET (Ollama's /api/tags); a pulled or removed model shows within seconds
    modelCheckIntervalMs: 5_000
  },
  test: {
    probeIntervalMs: 100, // three peers probe each other every 100–300 ms: detection well inside a test's patience
    probeTimeoutMs: 150, // a loaded 2-core CI box delays a loopback answer by tens of ms, rarely more
    indirectChecks: 3,
    suspicionTimeoutMs: 700,
    gossipIntervalMs: 50,
    gossipFanout: 3,
    retransmitMult: 4,
    antiEntropyIntervalMs: 2_000,
    pingTimeoutMs: 500, // a loopback dial is ~9 ms; 500 ms tolerates a loaded CI box
    retentionMs: 10_000, // long enough for a test to observe dead/left before removal
    redialIntervalMs: 300,
    reconnectIntervalMs: 300, // as redial: tests that kill peers must not flood the loopback with dials
    answeringGraceMs: 2_000, // long enough for a test to freeze and resume a peer mid-answer
    rttSampleIntervalMs: 0, // an echo after every answered probe: RTT tests get their samples fast
    tickMs: 50,
    joinTimeoutMs: 3_000,
    listedCheckIntervalMs: 300,
    modelCheckIntervalMs: 300
  }
} as const satisfies Record<string, TimingProfile>

export type ProfileName = keyof typeof PROFILES
