// 10. Idle cost (issue 12): what the mesh's own traffic (heartbeats, gossip, pings) costs each peer
// when nothing else happens. N = 1, 5, 10, 20 peer processes (`harombe-peer start --backend none`,
// spawned CLI) on 127.0.0.1, all joining through the first one. Per N: wait until every peer's view
// lists all N alive, let the mesh settle, then read each peer's CPU (user + system, /proc) over a
// window with no requests and no open event streams, and its RSS; at the end of the window count
// the members some peer's view holds as not alive (false suspicions and deaths: no peer was harmed).
import { readdirSync, readFileSync } from 'node:fs'
import { allAliveTracker, getJson } from './client.js'
import { sleep, type BenchContext, type Part, type PeerProc, type ViewPeer } from './context.js'
import { note, status } from './progress.js'
import { cpuMs, rssMb, spawnCliPeer } from './procs.js'
import type { Target } from './results.js'
import { round, summarize } from './stats.js'

/** A mesh that has not converged by then (after the last ready line) is measured anyway, marked not converged. */
const CONVERGE_TIMEOUT_MS = 30_000
/** After convergence: start-up work (JIT, GC of start-up garbage, first gossip rounds) dies down. */
const SETTLE_MS = 3_000
/**
 * And no window begins before every peer has run this long: V8's memory reducer runs its
 * "Mark-Compact (reduce)" collections once a process's allocation quiets down after its start
 * (`node --trace-gc`: at 8.3 and 8.9 s on a lone peer, ~100 ms of CPU; at 25 s in a 5-peer mesh,
 * where probe traffic kept it busy, ~250 ms), and the gossipsub heartbeat (5 s) grafts the topic
 * mesh at its first beats. With only SETTLE_MS a lone peer's window took that one-off in as
 * ~10 ms/s of "idle" cost (its steady state is ~2 ms/s), and at N = 5 four peers of five measured
 * ~27 ms/s against ~13. Measured from the last peer's ready line. Later major collections (and
 * the reducer runs they re-arm) are steady-state cost and count when they fall in the window.
 */
const MIN_UPTIME_MS = 45_000
/**
 * The CPU window: long enough that a peer's periodic work (probe, gossip, sync rounds, a 5 s
 * gossipsub heartbeat) averages out. 10 s was not for a lone peer (one sample per run): its figure
 * moved 2.0–3.9 ms/s between runs of one build, where 60 s windows agree within ±0.1.
 */
const WINDOW_MS = 30_000
const WINDOW_MS_QUICK = 5_000
/** Reading a view after the window: a peer starved of CPU (20 on 2 cores) can take seconds to answer. */
const VIEW_TIMEOUT_MS = 15_000

export interface IdleRow {
  n: number
  converged: boolean
  /** Last ready line → every peer lists all N alive (ms); null if not within the timeout. */
  converge_ms: number | null
  /** Peers that listed all N alive at least once before the timeout. */
  peers_complete: number
  /** Peers that printed their ready line; a peer that could not join (e.g. bootstrap timed out) is recorded, not fatal. */
  peers_started: number
  start_failures: string[]
  idle_cpu_ms_per_s: { p50: number, max: number }
  rss_mb: { p50: number, max: number }
  /** At the end of the window, members not alive (or missing) in some peer's view, summed over views. */
  not_alive: number
  not_alive_by_reason: Record<string, number>
  /** Peers whose /api/cluster did not answer within VIEW_TIMEOUT_MS (a starved peer): not counted above. */
  views_unreadable: number
  /** CPU ms/s the rest of the machine used during the window (all cores busy − these peers): this machine is shared. */
  other_cpu_ms_per_s: number
  /** Per peer, in ready order (peer 0 is the seed); a peer that exited is left out. `_ticks`: the same from /proc/<pid>/stat, a cross-check. */
  per_peer: { idle_cpu_ms_per_s: number[], idle_cpu_ms_per_s_ticks: number[], rss_mb: number[] }
}

/**
 * CPU time of a process's live threads in ms, at ns resolution (sum_exec_runtime, the first field of
 * /proc/<pid>/task/<tid>/schedstat): /proc/<pid>/stat counts in 10 ms ticks, 1 ms/s over 10 s, too
 * coarse for a 3 ms/s target. Threads that exit inside the window are not counted (Node's are long-lived).
 */
export function threadCpuMs (pid: number): number {
  let ns = NaN
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      // A thread may exit between the listing and the read: skip it.
      try { ns = (Number.isNaN(ns) ? 0 : ns) + Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]) } catch {}
    }
  } catch {}
  return ns / 1e6
}

/** CPU time all cores of the machine have spent busy so far, in ms (/proc/stat, 10 ms ticks). */
function machineBusyMs (): number {
  // user nice system idle iowait irq softirq steal: busy is all but idle and iowait.
  const f = /^cpu\s+(.*)$/m.exec(readFileSync('/proc/stat', 'utf8'))?.[1]?.split(/\s+/).map(Number) ?? []
  return [0, 1, 2, 5, 6, 7].reduce((sum, i) => sum + (f[i] ?? NaN), 0) * 10
}

const p50max = (v: number[], digits: number): { p50: number, max: number } => ({ p50: round(summarize(v).p50, digits), max: round(summarize(v).max, digits) })

async function idleOnce (ctx: BenchContext, n: number, windowMs: number): Promise<IdleRow> {
  const label = `N=${n}`
  const procs: PeerProc[] = []
  /** Index (spawn order) → when that peer first listed all N alive. */
  const { complete, watches, watch } = allAliveTracker(n)
  try {
    status(`${label}: starting the first peer`)
    const seed = ctx.track(await spawnCliPeer({ name: 'idle-0', dataDir: ctx.dataDir('idle-0'), backend: 'none' }))
    procs.push(seed)
    watch(0, seed.peer.api)
    status(`${label}: starting ${n - 1} more peers, all bootstrapping through the first`)
    const started = await Promise.allSettled(Array.from({ length: n - 1 }, async (_, i) => {
      const p = ctx.track(await spawnCliPeer({ name: `idle-${i + 1}`, dataDir: ctx.dataDir(`idle-${i + 1}`), backend: 'none', bootstrap: seed.peer.mesh, timeoutMs: 90_000 }))
      procs.push(p)
      watch(procs.length - 1, p.peer.api)
    }))
    // `peer idle-7 exited before ready (…): <command>` + stderr: the label and the CLI's own error say enough.
    const startFailures = started.flatMap(x => {
      if (x.status === 'fulfilled') return []
      const lines = String(x.reason?.message ?? x.reason).split('\n')
      return [`${lines[0]?.split(':')[0] ?? ''}: ${lines.find(l => l.startsWith('harombe-peer:')) ?? ''}`.slice(0, 300)]
    })
    const lastReady = Math.max(...procs.map(p => p.readyAt))
    while (complete.size < n && performance.now() < lastReady + CONVERGE_TIMEOUT_MS) {
      status(`${label}: ${complete.size}/${n} peers list all ${n} alive`)
      await sleep(50)
    }
    const converged = complete.size >= n
    // No event stream stays open during the window: the figure is the mesh's cost, not the benchmark's.
    for (const w of watches) w.close()
    const settleMs = Math.max(SETTLE_MS, lastReady + MIN_UPTIME_MS - performance.now())
    status(`${label}: settling ${(settleMs / 1000).toFixed(1)} s, then ${windowMs / 1000} s of idle CPU`)
    await sleep(settleMs)
    const sample = (): Array<{ fine: number, ticks: number }> => procs.map(p => ({ fine: threadCpuMs(p.pid), ticks: cpuMs(p.pid) }))
    const busyBefore = machineBusyMs()
    const before = sample()
    await sleep(windowMs)
    const after = sample()
    const busy = (machineBusyMs() - busyBefore) / (windowMs / 1000)
    const perSecond = (k: 'fine' | 'ticks'): number[] => after
      .map((a, i) => round((a[k] - (before[i]?.[k] ?? NaN)) / (windowMs / 1000), 2))
      .filter(Number.isFinite)
    const ticks = perSecond('ticks')
    const fine = perSecond('fine')
    // Where schedstat is missing (a kernel without it), the tick count is all there is.
    const cpu = fine.length === ticks.length ? fine : ticks
    const rss = procs.map(p => round(rssMb(p.pid)?.rss ?? NaN, 1)).filter(Number.isFinite)
    status(`${label}: reading every peer's view`)
    const notAlive: Record<string, number> = {}
    const count = (key: string, k = 1): void => { notAlive[key] = (notAlive[key] ?? 0) + k }
    let unreadable = 0
    await Promise.all(procs.map(async p => {
      try {
        const view = await getJson(`${p.peer.api}/api/cluster`, VIEW_TIMEOUT_MS) as { peers?: Array<ViewPeer & { reason?: string }> }
        const peers = view.peers ?? []
        for (const m of peers) if (m.state !== 'alive') count(`${m.state}: ${String(m.reason ?? '').slice(0, 100)}`)
        if (peers.length < n) count('missing from the view', n - peers.length)
      } catch {
        unreadable++
      }
    }))
    return {
      n,
      converged,
      converge_ms: converged ? round(Math.max(0, Math.max(...complete.values()) - lastReady)) : null,
      peers_complete: complete.size,
      peers_started: procs.length,
      start_failures: startFailures,
      idle_cpu_ms_per_s: p50max(cpu, 2),
      rss_mb: p50max(rss, 1),
      not_alive: Object.values(notAlive).reduce((s, v) => s + v, 0),
      not_alive_by_reason: notAlive,
      views_unreadable: unreadable,
      other_cpu_ms_per_s: round(Math.max(0, busy - cpu.reduce((sum, v) => sum + v, 0)), 1),
      per_peer: { idle_cpu_ms_per_s: cpu, idle_cpu_ms_per_s_ticks: ticks, rss_mb: rss }
    }
  } finally {
    for (const w of watches) w.close()
    status(`${label}: stopping ${procs.length} peers`)
    await Promise.all(procs.map(async p => await p.stop(6_000)))
  }
}

/** Issue 12's targets, judged on a run's rows (the report applies the same to the before run). */
export function idleTargets (rows: IdleRow[]): Target[] {
  const lone = rows.find(r => r.n === 1)
  const ten = rows.find(r => r.n === 10)
  if (lone == null) return []
  const out: Target[] = [{ what: 'idle CPU of a lone peer (N = 1)', target: '≤ 3 ms/s', measured: `${lone.idle_cpu_ms_per_s.p50} ms/s`, met: lone.idle_cpu_ms_per_s.p50 <= 3 }]
  if (ten == null) return out
  const cpuRatio = ten.idle_cpu_ms_per_s.p50 / lone.idle_cpu_ms_per_s.p50
  const rssRatio = ten.rss_mb.p50 / lone.rss_mb.p50
  const times = (v: number): string => Number.isFinite(v) ? `× ${v.toFixed(2)}` : 'no ratio (lone peer measured 0)'
  out.push(
    { what: 'idle CPU per peer at N = 10 (median peer; max in the table)', target: '≤ 5 ms/s', measured: `${ten.idle_cpu_ms_per_s.p50} ms/s (max ${ten.idle_cpu_ms_per_s.max})`, met: ten.idle_cpu_ms_per_s.p50 <= 5 },
    { what: 'idle CPU per peer at N = 10 against the lone peer (medians)', target: '≤ × 1.5', measured: `${times(cpuRatio)} (${ten.idle_cpu_ms_per_s.p50} vs ${lone.idle_cpu_ms_per_s.p50} ms/s)`, met: cpuRatio <= 1.5 },
    { what: 'RSS per peer at N = 10 against the lone peer (medians)', target: '≤ × 1.1', measured: `${times(rssRatio)} (${ten.rss_mb.p50} vs ${lone.rss_mb.p50} MB)`, met: rssRatio <= 1.1 }
  )
  return out
}

export const idlePart: Part = {
  name: 'idle',
  title: 'Idle cost per peer (N peer processes, no requests)',
  async run (ctx) {
    const sizes = ctx.quick ? [1, 5] : [1, 5, 10, 20]
    const windowMs = ctx.quick ? WINDOW_MS_QUICK : WINDOW_MS
    const rows: IdleRow[] = []
    for (const n of sizes) {
      const row = await idleOnce(ctx, n, windowMs)
      rows.push(row)
      note(`N=${n}: ${row.converged ? `converged ${row.converge_ms} ms after the last ready line` : `did NOT converge within ${CONVERGE_TIMEOUT_MS / 1000} s (${row.peers_complete}/${n} peers; ${row.peers_started} started)`}; idle CPU per peer p50 ${row.idle_cpu_ms_per_s.p50} / max ${row.idle_cpu_ms_per_s.max} ms/s; RSS p50 ${row.rss_mb.p50} MB; rest of the machine ${row.other_cpu_ms_per_s} ms/s; not alive ${row.not_alive}${row.views_unreadable > 0 ? ` (${row.views_unreadable} views unreadable)` : ''}`)
    }
    return {
      title: this.title,
      params: {
        sizes,
        convergeTimeoutMs: CONVERGE_TIMEOUT_MS,
        settleMs: SETTLE_MS,
        minUptimeMs: MIN_UPTIME_MS,
        windowMs,
        peer: 'harombe-peer start --backend none --api-port 0 --listen /ip4/127.0.0.1/tcp/0 --no-mdns (membership profile: lan, the default)',
        topology: 'the first peer starts alone; the others start together, each with --bootstrap <first>; all are stopped before the next N'
      },
      data: { rows },
      targets: idleTargets(rows),
      notes: [
        `Idle CPU = CPU time (user + system) used during the window / window length, per peer process, over ${windowMs / 1000} s that begin ${SETTLE_MS / 1000} s after convergence (or after the ${CONVERGE_TIMEOUT_MS / 1000} s timeout), and no earlier than ${MIN_UPTIME_MS / 1000} s after the last peer's ready line (V8's memory reducer collects ~8 s after a process starts: start-up, not idle cost). Read at ns resolution from /proc/<pid>/task/*/schedstat (all threads); /proc/<pid>/stat (10 ms ticks, so ${10_000 / windowMs} ms/s resolution) is kept per peer as a cross-check.`,
        'Nothing talks to the peers during the window (the event streams used to time convergence are closed before it): the figure is the cost of membership alone, every peer connected to the others. RSS is read at the end of the window. "Rest of the machine" = all cores busy (/proc/stat) − the peers, over the same window: other work on this shared machine.',
        '"not alive" counts, at the end of the window, each member that some peer\'s view holds as suspect, dead or left (or does not list), summed over the N views: every peer was running, so each one is a false suspicion or death.'
      ]
    }
  }
}
