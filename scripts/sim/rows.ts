// The rows of bench/results/membership-sim.json: the trials of one (N, loss) pooled into one row.
import { percentile } from '../bench/stats.js'
import type { ScenarioOutcome } from './scenario.js'

/** One row of `bench/results/membership-sim.json`; times are virtual milliseconds. */
export interface SimRow {
  n: number
  loss: number
  /**
   * Messages (requests, replies, view frames) sent per live peer per second while idle: the
   * probes, acks, ping-reqs and gossip measured over the idle window, plus push-pull frames at
   * their steady rate (see `push_pull_*`).
   */
  msgs_per_peer_per_s: number
  /** Bytes of those (JSON frames as libp2p-transport.ts writes them; no noise/yamux/TCP overhead). */
  bytes_per_peer_per_s: number
  /** Joiner starts → every live peer lists it alive. */
  join_converge_ms_p50: number | null
  join_converge_ms_p99: number | null
  /** Crash → every live peer holds it not alive (suspect or dead). */
  crash_detect_ms_p50: number | null
  crash_detect_ms_p99: number | null
  /** Distinct (peer, version) some peer declared dead while it was up, outside the partition and its healing, per 1,000 live peer-hours. */
  false_deaths_per_1000_peer_hours: number
  // --- extras ---
  /** Crash → every live peer holds it dead. */
  crash_dead_ms_p50: number | null
  crash_dead_ms_p99: number | null
  join_converge_ms_max: number | null
  crash_detect_ms_max: number | null
  trials: number
  joins: number
  joins_unconverged: number
  crashes: number
  crashes_undetected: number
  crashes_not_dead: number
  false_deaths: number
  /** One-sided 95 % upper bound (Poisson) of the false-death rate, per 1,000 peer-hours. */
  false_deaths_per_1000_peer_hours_ub95: number
  false_death_observations: number
  false_suspicions: number
  false_suspicion_observations: number
  false_deaths_of_slow_peers: number
  peer_hours: number
  /** The idle window's probes, acks, ping-reqs and gossip (measured). */
  swim_msgs_per_peer_per_s: number
  swim_bytes_per_peer_per_s: number
  /** The busiest peer of the idle window (swim messages and any view frames). */
  msgs_per_peer_per_s_max: number
  /** A push-pull frame (a full view) at this N, measured from a peer's view. */
  push_pull_frame_bytes: number
  /** anti-entropy.ts's mean interval at this N (antiEntropyIntervalMs × pushPullScale(N)). */
  push_pull_interval_s: number
  /** Each peer sends two frames per interval (its own exchange and one it answers): 2 × frame ÷ interval. */
  push_pull_bytes_per_peer_per_s: number
  /** View-frame bytes actually sent in the idle window (the first exchanges come 0.5–1.5 intervals after start, so at large N the window sees few or none). */
  push_pull_bytes_per_peer_per_s_in_window: number
  /** Updates queued for dissemination when the idle window opened (0: start-up traffic was over). */
  queued_updates_at_idle: number
  /** From the first event until every join and crash was seen (dead members are pinged every reconnectIntervalMs). */
  msgs_per_peer_per_s_events: number
  bytes_per_peer_per_s_events: number
  slow_peers: number
  partition_heal_ms: number | null
  partition_deaths: number
  partition_same_side_death_observations: number
  msgs_per_peer_per_s_partition: number | null
  msgs_per_peer_per_s_healing: number | null
  msgs_vs_swim_counts: number
  virtual_s: number
  timers_fired: number
  wall_s: number
}

const r1 = (v: number): number => Math.round(v * 10) / 10
const r3 = (v: number): number => Math.round(v * 1000) / 1000
const pct = (values: number[], p: number): number | null => values.length === 0 ? null : r1(percentile([...values].sort((a, b) => a - b), p))
const sum = <T>(items: readonly T[], f: (t: T) => number): number => items.reduce((s, t) => s + f(t), 0)

/** One-sided 95 % upper bound of a Poisson mean given `k` events (Wilson–Hilferty). */
export function poissonUpper95 (k: number): number {
  const a = k + 1
  return a * (1 - 1 / (9 * a) + 1.6449 / (3 * Math.sqrt(a))) ** 3
}

/** Pools the trials of one (N, loss): rates over the summed peer-time, percentiles over all samples. */
export function toRow (outcomes: readonly ScenarioOutcome[]): SimRow {
  const first = outcomes[0]
  if (first == null) throw new Error('no outcome to make a row of')
  const idleS = sum(outcomes, o => o.idle.peerSeconds)
  const swimMsgs = sum(outcomes, o => o.idle.swimMsgs) / idleS
  const swimBytes = sum(outcomes, o => o.idle.swimBytes) / idleS
  const pp = first.pushPull
  const ppMsgs = 2 / (pp.intervalMs / 1000)
  const ppBytes = 2 * pp.frameBytes / (pp.intervalMs / 1000)
  const joinMs = outcomes.flatMap(o => o.joinMs)
  const detectMs = outcomes.flatMap(o => o.detectMs)
  const deadMs = outcomes.flatMap(o => o.deadMs)
  const peerHours = sum(outcomes, o => o.peerHours)
  const deaths = sum(outcomes, o => o.falseDeaths)
  const eventS = sum(outcomes, o => o.events.peerSeconds)
  const parts = outcomes.flatMap(o => o.partition != null ? [o.partition] : [])
  const part = parts[0]
  return {
    n: first.n,
    loss: first.loss,
    msgs_per_peer_per_s: r3(swimMsgs + ppMsgs),
    bytes_per_peer_per_s: Math.round(swimBytes + ppBytes),
    join_converge_ms_p50: pct(joinMs, 50),
    join_converge_ms_p99: pct(joinMs, 99),
    crash_detect_ms_p50: pct(detectMs, 50),
    crash_detect_ms_p99: pct(detectMs, 99),
    false_deaths_per_1000_peer_hours: r3(deaths / peerHours * 1000),
    crash_dead_ms_p50: pct(deadMs, 50),
    crash_dead_ms_p99: pct(deadMs, 99),
    join_converge_ms_max: pct(joinMs, 100),
    crash_detect_ms_max: pct(detectMs, 100),
    trials: outcomes.length,
    joins: joinMs.length + sum(outcomes, o => o.joinsUnconverged),
    joins_unconverged: sum(outcomes, o => o.joinsUnconverged),
    crashes: detectMs.length + sum(outcomes, o => o.crashesUndetected),
    crashes_undetected: sum(outcomes, o => o.crashesUndetected),
    crashes_not_dead: sum(outcomes, o => o.crashesNotDead),
    false_deaths: deaths,
    false_deaths_per_1000_peer_hours_ub95: r3(poissonUpper95(deaths) / peerHours * 1000),
    false_death_observations: sum(outcomes, o => o.falseDeathObservations),
    false_suspicions: sum(outcomes, o => o.falseSuspicions),
    false_suspicion_observations: sum(outcomes, o => o.falseSuspicionObservations),
    false_deaths_of_slow_peers: sum(outcomes, o => o.falseDeathsOfSlowPeers),
    peer_hours: r3(peerHours),
    swim_msgs_per_peer_per_s: r3(swimMsgs),
    swim_bytes_per_peer_per_s: Math.round(swimBytes),
    msgs_per_peer_per_s_max: r3(Math.max(...outcomes.map(o => o.idle.busiestMsgsPerS))),
    push_pull_frame_bytes: pp.frameBytes,
    push_pull_interval_s: r1(pp.intervalMs / 1000),
    push_pull_bytes_per_peer_per_s: Math.round(ppBytes),
    push_pull_bytes_per_peer_per_s_in_window: Math.round(sum(outcomes, o => o.idle.viewBytes) / idleS),
    queued_updates_at_idle: sum(outcomes, o => o.idle.queuedAtStart),
    msgs_per_peer_per_s_events: r3(sum(outcomes, o => o.events.msgs) / eventS),
    bytes_per_peer_per_s_events: Math.round(sum(outcomes, o => o.events.bytes) / eventS),
    slow_peers: first.slowPeers,
    partition_heal_ms: part?.healMs == null ? null : r1(part.healMs),
    partition_deaths: sum(parts, p => p.deaths),
    partition_same_side_death_observations: sum(parts, p => p.sameSideDeathObservations),
    msgs_per_peer_per_s_partition: part == null ? null : r3(part.msgsPerPeerPerS),
    msgs_per_peer_per_s_healing: part == null ? null : r3(part.healingMsgsPerPeerPerS),
    msgs_vs_swim_counts: r3(sum(outcomes, o => o.msgsVsSwimCounts) / outcomes.length),
    virtual_s: r1(sum(outcomes, o => o.virtualS)),
    timers_fired: sum(outcomes, o => o.timersFired),
    wall_s: r1(sum(outcomes, o => o.wallS))
  }
}
