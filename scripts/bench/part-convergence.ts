// 4. Convergence: N peer processes (`harombe-peer start --backend none`, spawned CLI) on
// 127.0.0.1, all joining through the first one. Measured: from the last ready line until every
// peer's view lists all N as alive, followed through each peer's /api/cluster/events. Also, per
// peer once the round is over: CPU used per second while idle, and RSS.
import { loadavg } from 'node:os'
import { allAliveTracker } from './client.js'
import { sleep, type BenchContext, type Part, type PeerProc } from './context.js'
import { note, status } from './progress.js'
import { cpuMs, rssMb, spawnCliPeer } from './procs.js'
import { round, roundSummary, summarize } from './stats.js'

/** A round that has not converged by then (after the last ready line) is recorded as not converged. */
const CONVERGE_TIMEOUT_MS = 20_000
/** CPU is sampled over this long after the round: what an idle mesh of N costs each peer. */
const IDLE_CPU_WINDOW_MS = 2_000

interface Round {
  n: number
  /** Last ready line → every peer lists all N alive (ms); null if it did not within the timeout. */
  convergenceMs: number | null
  /** Peers that listed all N at least once by the end of the round. */
  peersComplete: number
  /** Per peer, its ready line → it lists all N (ms), for the spread. */
  perPeerMs: number[]
  /** First → last ready line (ms): how long the start-up wave took. */
  startWaveMs: number
  /** CPU ms used per second by each peer after the round (idle mesh), and RSS. */
  idleCpuMsPerSecond: number[]
  rssMb: number[]
  /** Per peer, CPU ms (user + system, /proc) from its spawn until the round converged or timed out. */
  waveCpuMs: number[]
  /** Per peer, membership messages (harombe_gossip_messages_total, all kinds) by then. */
  waveMessages: number[]
  /** Peers that printed no ready line (the CLI's own error), so the round could not converge. */
  startFailures: string[]
  /** At the end of the round, the members not alive in some peer's view, counted by state and reason. */
  notAlive: Record<string, number>
}

async function convergeOnce (ctx: BenchContext, n: number, label: string): Promise<Round> {
  const procs: PeerProc[] = []
  /** Index (spawn order) → when that peer first listed all N alive. */
  const { complete, watches, watch } = allAliveTracker(n)
  try {
    status(`${label}: starting the first peer`)
    const seed = ctx.track(await spawnCliPeer({ name: 'conv-0', dataDir: ctx.dataDir('conv-0'), backend: 'none' }))
    procs.push(seed)
    watch(0, seed.peer.api)
    status(`${label}: starting ${n - 1} more peers, all bootstrapping through the first`)
    // A peer that cannot start (on a loaded machine: no bootstrap contact within the CLI's 30 s) is
    // recorded and the round, which then cannot converge, runs on: one such peer must not end the part.
    const started = await Promise.allSettled(Array.from({ length: n - 1 }, async (_, i) => {
      const p = ctx.track(await spawnCliPeer({ name: `conv-${i + 1}`, dataDir: ctx.dataDir(`conv-${i + 1}`), backend: 'none', bootstrap: seed.peer.mesh, timeoutMs: 90_000 }))
      procs.push(p)
      watch(i + 1, p.peer.api)
      status(`${label}: ${procs.length}/${n} ready`)
    }))
    const startFailures = started.flatMap(x => {
      if (x.status === 'fulfilled') return []
      const lines = String(x.reason?.message ?? x.reason).split('\n')
      return [`${lines[0]?.split(':')[0] ?? ''}: ${lines.find(l => l.startsWith('harombe-peer:')) ?? ''}`.slice(0, 300)]
    })
    const readyByIndex = new Map(procs.map(p => [Number(p.peer.name.split('-')[1]), p.readyAt]))
    const lastReady = Math.max(...readyByIndex.values())
    const firstReady = Math.min(...readyByIndex.values())
    const deadline = lastReady + CONVERGE_TIMEOUT_MS
    while (complete.size < n && performance.now() < deadline) {
      status(`${label}: ${complete.size}/${n} peers list all ${n}`)
      await sleep(50)
    }
    const converged = complete.size >= n
    // Work done by the start wave: each process's CPU from its spawn to here (less sensitive to a
    // loaded machine than the wall time), and the membership messages it counted.
    const waveCpuMs = procs.map(p => cpuMs(p.pid)).filter(Number.isFinite)
    const waveMessages = await Promise.all(procs.map(async p => await gossipMessages(p.peer.api)))
    // The mesh as the round leaves it: who is not alive where, and why.
    const notAlive: Record<string, number> = {}
    for (const w of watches) {
      for (const m of w.members.values()) {
        if (m.state === 'alive') continue
        const key = `${m.state}: ${m.reason.slice(0, 100)}`
        notAlive[key] = (notAlive[key] ?? 0) + 1
      }
    }
    for (const w of watches) w.close()
    status(`${label}: measuring idle CPU and RSS`)
    const before = procs.map(p => cpuMs(p.pid))
    await sleep(IDLE_CPU_WINDOW_MS)
    const idleCpu = procs.map((p, i) => round((cpuMs(p.pid) - (before[i] as number)) / (IDLE_CPU_WINDOW_MS / 1000), 1)).filter(Number.isFinite)
    const rss = procs.map(p => rssMb(p.pid)?.rss ?? NaN).filter(Number.isFinite).map(v => round(v, 1))
    return {
      n,
      convergenceMs: converged ? round(Math.max(0, Math.max(...complete.values()) - lastReady)) : null,
      peersComplete: complete.size,
      perPeerMs: [...complete.entries()].map(([i, at]) => round(Math.max(0, at - (readyByIndex.get(i) ?? at)))),
      startWaveMs: round(lastReady - firstReady),
      idleCpuMsPerSecond: idleCpu,
      rssMb: rss,
      waveCpuMs,
      waveMessages: waveMessages.filter(Number.isFinite),
      startFailures,
      notAlive
    }
  } finally {
    for (const w of watches) w.close()
    status(`${label}: stopping ${procs.length} peers`)
    await Promise.all(procs.map(async p => await p.stop(6_000)))
  }
}

export const convergencePart: Part = {
  name: 'convergence',
  title: 'Convergence (N peer processes on 127.0.0.1)',
  async run (ctx) {
    const plan: Array<{ n: number, repeats: number }> = planFromEnv(process.env.HAROMBE_BENCH_CONVERGENCE_PLAN) ?? (ctx.quick
      ? [{ n: 5, repeats: 1 }]
      : [{ n: 5, repeats: 3 }, { n: 10, repeats: 3 }, { n: 20, repeats: 3 }])
    const rounds: Round[] = []
    for (const { n, repeats } of plan) {
      for (let r = 0; r < repeats; r++) {
        const result = await convergeOnce(ctx, n, `N=${n} (${r + 1}/${repeats})`)
        rounds.push(result)
        note(`N=${n} round ${r + 1}: ${result.startFailures.length > 0 ? `${result.startFailures.length} peer(s) could not start (${result.startFailures[0] ?? ''}); ` : ''}${result.convergenceMs == null ? `did NOT converge within ${CONVERGE_TIMEOUT_MS / 1000} s (${result.peersComplete}/${n} peers ever listed all)` : `${result.convergenceMs} ms`} after the last ready line (start wave ${result.startWaveMs} ms); idle CPU per peer ${summarize(result.idleCpuMsPerSecond).p50} ms/s; CPU per peer spawn → converged ${Math.round(summarize(result.waveCpuMs).p50)} ms, membership messages ${Math.round(summarize(result.waveMessages).p50)} (medians); load ${loadavg()[0]?.toFixed(1)}`)
      }
    }
    const byN = plan.map(({ n }) => {
      const rs = rounds.filter(r => r.n === n)
      const times = rs.map(r => r.convergenceMs).filter((v): v is number => v != null)
      return {
        n,
        rounds: rs.length,
        notConverged: rs.length - times.length,
        convergenceMs: roundSummary(summarize(times)),
        samplesMs: rs.map(r => r.convergenceMs),
        perPeerReadyToCompleteMs: roundSummary(summarize(rs.flatMap(r => r.perPeerMs))),
        startWaveMs: roundSummary(summarize(rs.map(r => r.startWaveMs))),
        idleCpuMsPerSecond: roundSummary(summarize(rs.flatMap(r => r.idleCpuMsPerSecond)), 1),
        rssMb: roundSummary(summarize(rs.flatMap(r => r.rssMb)), 1),
        waveCpuMs: roundSummary(summarize(rs.flatMap(r => r.waveCpuMs ?? [])), 0),
        waveMessages: roundSummary(summarize(rs.flatMap(r => r.waveMessages ?? [])), 0)
      }
    })
    const largest = byN[byN.length - 1]
    const medianLargest = largest?.convergenceMs.p50 ?? NaN
    const worstLargest = largest == null || largest.notConverged > 0 ? Infinity : largest.convergenceMs.max
    const measured = largest == null
      ? ''
      : largest.notConverged === largest.rounds
        ? `did not converge within ${CONVERGE_TIMEOUT_MS / 1000} s in any of ${largest.rounds} rounds`
        : largest.notConverged > 0
          // A median over the converged rounds alone would flatter: say how many did not.
          ? `${largest.rounds - largest.notConverged} of ${largest.rounds} rounds converged (${largest.convergenceMs.p50 >= 1_000 ? (largest.convergenceMs.p50 / 1000).toFixed(2) + ' s' : Math.round(largest.convergenceMs.p50) + ' ms'}${largest.rounds - largest.notConverged > 1 ? ' median' : ''}); ${largest.notConverged} did not within ${CONVERGE_TIMEOUT_MS / 1000} s`
          : `median ${(medianLargest / 1000).toFixed(2)} s, worst ${(worstLargest / 1000).toFixed(2)} s (${largest.rounds} rounds)`
    return {
      title: this.title,
      params: {
        plan,
        timeoutMs: CONVERGE_TIMEOUT_MS,
        idleCpuWindowMs: IDLE_CPU_WINDOW_MS,
        peer: 'harombe-peer start --backend none --api-port 0 --listen /ip4/127.0.0.1/tcp/0 --no-mdns (membership profile: lan, the default)',
        topology: 'the first peer starts alone; the others start together, each with --bootstrap <first>'
      },
      data: { byN, rounds },
      targets: largest?.n === 20
        ? [{ what: 'convergence at N = 20 (last ready line → every peer lists all N alive), median of rounds', target: '≤ 1.5 s', measured, met: largest.notConverged === 0 && medianLargest <= 1_500 }]
        : [],
      notes: [
        'Each peer\'s view is followed through its /api/cluster/events stream (a snapshot, then every change), so a time is when the change reached the benchmark, not a poll interval.',
        `Idle CPU and RSS are read from /proc after the round (converged or timed out), over ${IDLE_CPU_WINDOW_MS / 1000} s with no requests: the cost of membership alone (heartbeats, gossip, pings) with every peer connected to the others.`,
        'The start wave (first → last ready line) is long because N processes start at once on 2 cores; it is not part of the convergence time.'
      ]
    }
  }
}

/**
 * `HAROMBE_BENCH_CONVERGENCE_PLAN=20x5` (or `5x3,20x3`): only these sizes and repeats, for profiling
 * one size; the plan is recorded in the result's params.
 */
function planFromEnv (text: string | undefined): Array<{ n: number, repeats: number }> | undefined {
  if (text == null || text.trim() === '') return undefined
  return text.split(',').map(item => {
    const m = /^\s*(\d+)x(\d+)\s*$/.exec(item)
    if (m == null) throw new Error(`HAROMBE_BENCH_CONVERGENCE_PLAN: expected <n>x<repeats>[,…], got '${text}'`)
    return { n: Number(m[1]), repeats: Number(m[2]) }
  })
}

/** A peer's harombe_gossip_messages_total summed over kinds; NaN when /metrics does not answer in time. */
async function gossipMessages (api: string): Promise<number> {
  try {
    const text = await (await fetch(`${api}/metrics`, { signal: AbortSignal.timeout(5_000) })).text()
    let total = 0
    for (const match of text.matchAll(/^harombe_gossip_messages_total\{[^}]*\} (\d+)/gm)) total += Number(match[1])
    return total
  } catch {
    return NaN
  }
}
