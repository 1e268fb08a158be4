// One simulated run at one (N, loss): start converged, warm up, measure idle traffic, then joins
// and crashes, then (optionally) a partition and its healing. Returns raw measurements; rows.ts
// pools the trials of one (N, loss) into a row.
import { pushPullScale } from '../../src/membership/anti-entropy.js'
import { PROFILES, type TimingProfile } from '../../src/membership/profiles.js'
import { SimCluster, type SimPeer } from './cluster.js'

export interface ScenarioConfig {
  n: number
  loss: number
  seed: number
  /** One-way latency range (ms), uniform. */
  latencyMs: readonly [number, number]
  /** Before the idle window: the start-up announcements have spread and been retired. */
  warmupMs: number
  /** The idle window msgs and bytes per peer per second are measured over. */
  idleMs: number
  /** Joins and crashes alternate (join first), one every `eventSpacingMs`. */
  joins: number
  crashes: number
  eventSpacingMs: number
  /** How long after the last event joins and crashes may take to be seen everywhere. */
  settleMs: number
  /** Share of the peers (at least one when > 0) that see every message `slowMs` late. */
  slowFraction: number
  slowMs: number
  /** Two random halves of the cluster cut off from each other for `durationMs`, then healed. */
  partition?: { durationMs: number, healTimeoutMs: number }
  /** Default: PROFILES.lan. */
  timing?: TimingProfile
}

/** Raw measurements of one run (times in virtual ms). */
export interface ScenarioOutcome {
  n: number
  loss: number
  seed: number
  idle: {
    /** Live peers × seconds of the idle window. */
    peerSeconds: number
    /** Probe, ack, ping-req and gossip messages (everything but view frames) sent. */
    swimMsgs: number
    swimBytes: number
    /** Push-pull frames sent in the window (few or none at large N: see pushPull). */
    viewMsgs: number
    viewBytes: number
    busiestMsgsPerS: number
    /** Updates still queued for dissemination when the window opened (0: the start-up had settled). */
    queuedAtStart: number
  }
  /** The push-pull's steady cost: the real frame size at this N and the scheduler's mean interval. */
  pushPull: { frameBytes: number, intervalMs: number }
  joinMs: number[]
  joinsUnconverged: number
  detectMs: number[]
  deadMs: number[]
  crashesUndetected: number
  crashesNotDead: number
  falseDeaths: number
  falseDeathObservations: number
  falseSuspicions: number
  falseSuspicionObservations: number
  falseDeathsOfSlowPeers: number
  /** Live peer-hours outside the partition and its healing (the false-death rate's denominator). */
  peerHours: number
  events: { peerSeconds: number, msgs: number, bytes: number }
  partition?: {
    healMs: number | null
    deaths: number
    sameSideDeathObservations: number
    disagreeingAtHeal: number
    msgsPerPeerPerS: number
    healingMsgsPerPeerPerS: number
  }
  slowPeers: number
  virtualS: number
  timersFired: number
  wallS: number
  /** Messages the network carried ÷ the peers' own Swim.counts.out, over peers that never crashed (1 if both count the same thing). */
  msgsVsSwimCounts: number
}

export type Progress = (text: string) => void

/** What `peers` have sent so far, per peer. */
function snapshot (cluster: SimCluster, peers: readonly SimPeer[]): Map<string, { msgs: number, bytes: number, viewMsgs: number, viewBytes: number }> {
  const out = new Map<string, { msgs: number, bytes: number, viewMsgs: number, viewBytes: number }>()
  for (const p of peers) {
    const t = cluster.network.traffic(p.id)
    out.set(p.id, { msgs: t.sentMsgs, bytes: t.sentBytes, viewMsgs: t.sentViewMsgs, viewBytes: t.sentViewBytes })
  }
  return out
}

/** What `peers` sent since `before` (a peer missing from it started from zero). */
function sentSince (cluster: SimCluster, peers: readonly SimPeer[], before: ReturnType<typeof snapshot>): { msgs: number, bytes: number, viewMsgs: number, viewBytes: number, busiest: number } {
  const sum = { msgs: 0, bytes: 0, viewMsgs: 0, viewBytes: 0, busiest: 0 }
  for (const [id, now] of snapshot(cluster, peers)) {
    const b = before.get(id) ?? { msgs: 0, bytes: 0, viewMsgs: 0, viewBytes: 0 }
    sum.msgs += now.msgs - b.msgs
    sum.bytes += now.bytes - b.bytes
    sum.viewMsgs += now.viewMsgs - b.viewMsgs
    sum.viewBytes += now.viewBytes - b.viewBytes
    sum.busiest = Math.max(sum.busiest, now.msgs - b.msgs)
  }
  return sum
}

function pick<T> (items: readonly T[], random: () => number): T | undefined {
  return items[Math.floor(random() * items.length)]
}

export async function runScenario (config: ScenarioConfig, progress: Progress = () => {}): Promise<ScenarioOutcome> {
  const wallStart = performance.now()
  const timing = config.timing ?? PROFILES.lan
  const cluster = new SimCluster({ n: config.n, loss: config.loss, latencyMs: config.latencyMs, timing, seed: config.seed })
  const { clock, observer } = cluster
  const elapsed = (): string => `${((performance.now() - wallStart) / 1000).toFixed(1)} s wall, ${(clock.now() / 1000).toFixed(1)} s virtual`

  const originals = [...cluster.peers.values()]
  const slowCount = config.slowFraction > 0 ? Math.max(1, Math.round(config.n * config.slowFraction)) : 0
  for (const peer of originals.slice(0, slowCount)) cluster.setSlow(peer, config.slowMs)
  cluster.startAll()
  await clock.run(config.warmupMs)

  // Idle: nothing changes, so this is the steady cost of failure detection.
  const queuedAtStart = originals.reduce((s, p) => s + p.swim.queuedUpdates, 0)
  const idleFrom = clock.now()
  const idleBefore = snapshot(cluster, originals)
  await clock.run(idleFrom + config.idleMs)
  const idleS = (clock.now() - idleFrom) / 1000
  const idle = sentSince(cluster, originals, idleBefore)
  const someView = originals[0]?.swim.view()
  const frameBytes = someView == null ? 0 : cluster.network.sizes.view([...someView.members.values()].map(m => ({ announcement: m.announcement, state: m.state })))
  // anti-entropy.ts: the interval × pushPullScale(alive members + 1), jittered ±50 % (mean 1×).
  const pushPullIntervalMs = timing.antiEntropyIntervalMs * pushPullScale(config.n)
  progress(`idle: ${((idle.msgs - idle.viewMsgs) / config.n / idleS).toFixed(2)} msgs/peer/s (${elapsed()})`)

  // Joins and crashes, alternating. A crash never hits a slow peer (their false deaths are
  // counted apart), a peer whose own join is still spreading, or the bootstrap of one.
  const eventsFrom = clock.now()
  const eventsBefore = snapshot(cluster, cluster.live())
  const bootstraps = new Map<string, string>()
  let joins = 0
  let crashes = 0
  let at = eventsFrom
  while (joins < config.joins || crashes < config.crashes) {
    at += config.eventSpacingMs
    await clock.run(at)
    for (const joiner of bootstraps.keys()) if (!observer.isPending(joiner)) bootstraps.delete(joiner)
    if (joins < config.joins && (joins <= crashes || crashes >= config.crashes)) {
      const bootstrap = pick(cluster.live().filter(p => !observer.isPending(p.id)), cluster.random)
      if (bootstrap == null) throw new Error('no live peer to join through')
      const joiner = await cluster.join(bootstrap)
      bootstraps.set(joiner.id, bootstrap.id)
      joins++
    } else {
      const busy = new Set(bootstraps.values())
      const victim = pick(cluster.live().filter(p => !p.slow && !observer.isPending(p.id) && !busy.has(p.id)), cluster.random)
      if (victim == null) throw new Error('no peer left to crash')
      cluster.crash(victim)
      crashes++
    }
  }
  await clock.runUntil(() => observer.pending === 0, at + config.settleMs)
  const eventsS = (clock.now() - eventsFrom) / 1000
  // Crashed peers stop sending and joiners start from zero: the mean over the peers live at the end.
  const liveAfterEvents = cluster.live()
  const events = sentSince(cluster, liveAfterEvents, eventsBefore)
  const join = observer.joinResults()
  const crash = observer.crashResults()
  progress(`${joins} joins, ${crashes} crashes (${elapsed()})`)

  let partition: ScenarioOutcome['partition']
  if (config.partition != null) {
    await clock.run(clock.now() + 2_000)
    const live = cluster.live()
    const sides = new Map(live.map(p => [p.id, cluster.random() < 0.5 ? 0 : 1]))
    observer.setPartition(sides)
    cluster.partition(sides)
    const cutAt = clock.now()
    const cutBefore = snapshot(cluster, live)
    await clock.run(cutAt + config.partition.durationMs)
    const disagreeingAtHeal = observer.disagreeing
    const cut = sentSince(cluster, live, cutBefore)
    const healBefore = snapshot(cluster, live)
    cluster.partition(undefined)
    const healedAt = clock.now()
    const converged = await clock.runUntil(() => observer.converged, healedAt + config.partition.healTimeoutMs)
    const healS = Math.max(0.001, (clock.now() - healedAt) / 1000)
    const healing = sentSince(cluster, live, healBefore)
    observer.setPartition(undefined)
    partition = {
      healMs: converged ? clock.now() - healedAt : null,
      deaths: observer.partitionDeaths.incidents,
      sameSideDeathObservations: observer.partitionSameSideDeaths,
      disagreeingAtHeal,
      msgsPerPeerPerS: cut.msgs / live.length / (config.partition.durationMs / 1000),
      healingMsgsPerPeerPerS: healing.msgs / live.length / healS
    }
    progress(`partition of ${config.partition.durationMs / 1000} s: ${converged ? `re-converged ${Math.round(clock.now() - healedAt)} ms after healing` : `not re-converged within ${config.partition.healTimeoutMs / 1000} s`} (${elapsed()})`)
  }

  observer.verify(cluster.views())
  const peers = [...cluster.peers.values()]
  // Peers that never crashed: a crashed peer's answer still in progress (a relayed probe, a view
  // exchange) is counted by its Swim but dropped by the network, which carries nothing from it.
  const counted = peers.filter(p => !p.crashed)
  const sent = counted.reduce((s, p) => s + cluster.network.traffic(p.id).sentMsgs, 0)
  const swimOut = counted.reduce((s, p) => s + p.swim.counts.out, 0)
  cluster.stopAll()
  const slowIds = new Set(peers.filter(p => p.slow).map(p => p.id))
  return {
    n: config.n,
    loss: config.loss,
    seed: config.seed,
    idle: {
      peerSeconds: config.n * idleS,
      swimMsgs: idle.msgs - idle.viewMsgs,
      swimBytes: idle.bytes - idle.viewBytes,
      viewMsgs: idle.viewMsgs,
      viewBytes: idle.viewBytes,
      busiestMsgsPerS: idle.busiest / idleS,
      queuedAtStart
    },
    pushPull: { frameBytes, intervalMs: pushPullIntervalMs },
    joinMs: join.ms,
    joinsUnconverged: join.unconverged,
    detectMs: crash.detectMs,
    deadMs: crash.deadMs,
    crashesUndetected: crash.undetected,
    crashesNotDead: crash.notDead,
    falseDeaths: observer.falseDeaths.incidents,
    falseDeathObservations: observer.falseDeaths.observations,
    falseSuspicions: observer.falseSuspicions.incidents,
    falseSuspicionObservations: observer.falseSuspicions.observations,
    falseDeathsOfSlowPeers: [...observer.falselyDead].filter(([id]) => slowIds.has(id)).reduce((s, [, k]) => s + k, 0),
    peerHours: observer.peerHours(),
    events: { peerSeconds: liveAfterEvents.length * eventsS, msgs: events.msgs, bytes: events.bytes },
    ...(partition != null ? { partition } : {}),
    slowPeers: slowCount,
    virtualS: clock.now() / 1000,
    timersFired: clock.fired,
    wallS: (performance.now() - wallStart) / 1000,
    msgsVsSwimCounts: sent / Math.max(1, swimOut)
  }
}
