// Before and after issue 24 (announcements over gossipsub again, change-only): `bench/results/before-24/`
// holds idle, change, convergence, failure and chaos from the same benchmark scripts run on the
// commit before the issue's work, and `bench/results/after-24/` the same parts on the branch, run
// part by part in turn, so both saw the same shared machine within minutes of each other. Kept
// apart from the main result files: they were measured on a machine loaded far beyond its cores,
// and the other sections' figures (from quieter runs) are not replaced by them.
import { n0, n1, n2, table } from './markdown.js'
import type { ResultFile } from './results.js'

type Row = [what: string, before: string, after: string, target?: string, met?: boolean]

interface IdleRow { n: number, converged: boolean, converge_ms: number | null, idle_cpu_ms_per_s: { p50: number, max: number }, other_cpu_ms_per_s: number, rss_mb: { p50: number } }

/** `bench/results/after-24/idle-side-by-side.json`: both builds' meshes over one window (scripts/bench/idle-side-by-side.ts). */
interface SideBySide {
  command: string
  afterCommit: string
  date: string
  rows: Array<{ n: number, windowMs: number, loadAvgAtWindow: number, idle_cpu_ms_per_s: Record<'after' | 'before', { median: number }>, after_over_before: number }>
}

export function issue24Section (after: Map<string, ResultFile>, before: Map<string, ResultFile>): string {
  // Not a part's result file: the side-by-side script writes its own shape.
  const sideBySide = after.get('idle-side-by-side.json') as unknown as SideBySide | undefined
  const rows: Row[] = [
    ...sideBySideRows(sideBySide),
    ...idleRows(before.get('idle.json'), after.get('idle.json')),
    ...changeRows(before.get('change.json'), after.get('change.json')),
    ...convergenceRows(before.get('convergence.json'), after.get('convergence.json')),
    ...failureRows(before.get('failure.json'), after.get('failure.json')),
    ...chaosRows(before.get('chaos.json'), after.get('chaos.json'))
  ]
  if (rows.length === 0) return ''
  for (const part of ['idle', 'change', 'convergence', 'failure', 'chaos']) {
    const b = before.get(`${part}.json`)
    const a = after.get(`${part}.json`)
    // A part that failed writes no file (e.g. a peer that could not reach its bootstrap peer in 30 s): say so.
    if (b == null || a == null) rows.push([`${part}: no result file`, b == null ? 'the part failed (no file)' : 'measured', a == null ? 'the part failed (no file)' : 'measured'])
  }
  const runs = ['idle', 'change', 'convergence', 'failure', 'chaos'].map(part => {
    const b = before.get(`${part}.json`)
    const a = after.get(`${part}.json`)
    return `${part}: ${b == null ? '–' : ref(b)} → ${a == null ? '–' : ref(a)}`
  })
  const idleParams = after.get('idle.json')?.params as { windowMs?: number, minUptimeMs?: number } | undefined
  const idleNote = idleParams?.minUptimeMs != null && idleParams.windowMs != null
    ? [`Idle pairs: each peer's CPU over ${idleParams.windowMs / 1000} s beginning no earlier than ${idleParams.minUptimeMs / 1000} s after the last ready line (section 10's notes say why: V8's start-up memory reducer and the first gossipsub heartbeats are start-up, not idle cost; the first pairs, with 10 s windows 3 s after convergence, caught them).`, '']
    : []
  return [
    '## Before and after issue 24 (announcements over gossipsub, changes only)',
    '',
    'Same benchmark scripts, same machine, one session (the failure and chaos pairs are older: see their dates in the Runs line): each part ran on the commit before the issue\'s work ("before", `bench/results/before-24/`) and on the branch ("after", `bench/results/after-24/`), alternately, part by part, so each pair saw the machine within minutes. Where a run names a peer commit, the branch\'s harness drove the before commit\'s CLI from its own worktree (`HAROMBE_BENCH_PEER_ROOT`). The machine (2 cores) was at times shared with other engineers\' builds and tests: each run\'s 1-minute load average is in the Runs line below, and the idle rows show the CPU the rest of the machine used during the window: absolute figures move with that load; compare each pair side by side.',
    '',
    table(['what', 'before', 'after', 'issue 24 target', 'after: met?'], rows.map(([what, b, a, target, met]) => [what, b, a, target ?? '', met == null ? '' : met ? 'met' : '**missed**'])),
    '',
    ...idleNote,
    `<sub>Runs: ${runs.join(' · ')}</sub>`,
    ''
  ].join('\n')
}

const ref = (r: ResultFile): string => `${r.run.peerGit != null ? `peers \`${r.run.peerGit.gitCommit.slice(0, 8)}\` by ` : ''}\`${r.run.gitCommit.slice(0, 8)}\` ${r.run.date.slice(0, 16).replace('T', ' ')} (load ${r.machine.loadAvgStart} → ${r.machine.loadAvgEnd})`

function idleRows (b: ResultFile | undefined, a: ResultFile | undefined): Row[] {
  if (b == null || a == null) return []
  const at = (r: ResultFile, n: number): IdleRow | undefined => (r.data as { rows: IdleRow[] }).rows.find(x => x.n === n)
  const rows: Row[] = []
  const ns = [1, 5, 10, 20]
  for (const n of ns) {
    const rb = at(b, n)
    const ra = at(a, n)
    if (rb == null || ra == null) continue
    const cell = (r: IdleRow): string => `${n2(r.idle_cpu_ms_per_s.p50)} ms/s (max ${n2(r.idle_cpu_ms_per_s.max)}); rest of the machine ${n0(r.other_cpu_ms_per_s)} ms/s${r.converged ? '' : ', **not converged**'}`
    const ratio = ra.idle_cpu_ms_per_s.p50 / rb.idle_cpu_ms_per_s.p50
    rows.push([`idle CPU per peer, N = ${n} (median peer; \`bench:idle\`, each build in its own run, minutes apart)`, cell(rb), `${cell(ra)} — **× ${n2(ratio)}** of before`, '≤ × 1.2 of before', ratio <= 1.2])
  }
  // "Flat in N": the after/before ratio does not grow with N (per-peer idle CPU itself grows with N in both).
  const ratios = ns.flatMap(n => {
    const rb = at(b, n)
    const ra = at(a, n)
    return rb == null || ra == null ? [] : [{ n, ratio: ra.idle_cpu_ms_per_s.p50 / rb.idle_cpu_ms_per_s.p50 }]
  })
  if (ratios.length > 1) {
    const perN = (r: IdleRow | undefined, lo: IdleRow | undefined): string => r == null || lo == null ? '–' : `× ${n2(r.idle_cpu_ms_per_s.p50 / lo.idle_cpu_ms_per_s.p50)}`
    rows.push([
      'idle CPU after/before across N (flat in N?)',
      `per peer, N = 20 against N = 1: ${perN(at(b, 20), at(b, 1))}`,
      `${ratios.map(x => `N = ${x.n}: × ${n2(x.ratio)}`).join(', ')}; per peer, N = 20 against N = 1: ${perN(at(a, 20), at(a, 1))}`,
      'after/before ≤ × 1.2 at every N',
      ratios.every(x => x.ratio <= 1.2)
    ])
  }
  return rows
}

function sideBySideRows (x: SideBySide | undefined): Row[] {
  if (x == null || x.rows.length === 0) return []
  const cell = (who: 'after' | 'before'): string => x.rows.map(r => `N = ${r.n}: ${n2(r.idle_cpu_ms_per_s[who].median)}`).join(', ') + ' ms/s'
  const ratios = x.rows.map(r => `N = ${r.n}: **× ${n2(r.after_over_before)}**`).join(', ')
  return [[
    `idle CPU per peer, both builds' meshes started together and measured over one ${x.rows[0]?.windowMs != null ? x.rows[0].windowMs / 1000 : '?'} s window (median peer; \`${x.command}\`, \`${x.afterCommit.slice(0, 8)}\`, ${x.date}, load ${x.rows.map(r => r.loadAvgAtWindow).join(' / ')})`,
    cell('before'),
    `${cell('after')} — ${ratios}`,
    '≤ × 1.2 of before, flat in N',
    x.rows.every(r => r.after_over_before <= 1.2)
  ]]
}

function changeRows (b: ResultFile | undefined, a: ResultFile | undefined): Row[] {
  if (b == null || a == null) return []
  const cell = (r: ResultFile): string => {
    const d = r.data as { n: number, latency_ms: { n: number, p50: number, p99: number, max: number }, not_seen: number, peers_started?: number }
    const started = d.peers_started != null && d.peers_started < d.n ? `; only ${d.peers_started} of ${d.n} peers started` : ''
    return `p50 ${n1(d.latency_ms.p50)} ms, p99 **${n1(d.latency_ms.p99)} ms**, max ${n1(d.latency_ms.max)} (${d.latency_ms.n} samples${d.not_seen > 0 ? `, ${d.not_seen} not seen within 15 s` : ''}${started})`
  }
  const d = a.data as { n: number, latency_ms: { p99: number }, not_seen: number }
  return [[`a model appearing or going, seen by every other peer at N = ${d.n}`, cell(b), cell(a), '≤ 300 ms p99', d.not_seen === 0 && d.latency_ms.p99 <= 300]]
}

function convergenceRows (b: ResultFile | undefined, a: ResultFile | undefined): Row[] {
  if (b == null || a == null) return []
  const at = (r: ResultFile): { convergenceMs: { p50: number, max: number }, rounds: number, notConverged: number, samplesMs: Array<number | null> } | undefined =>
    (r.data as { byN: any[] }).byN.find(x => x.n === 20)
  const rb = at(b)
  const ra = at(a)
  if (rb == null || ra == null) return []
  const cell = (x: NonNullable<ReturnType<typeof at>>): string => x.notConverged === x.rounds
    ? `**none of ${x.rounds} rounds converged** within the round's time-out`
    : `median ${n2(x.convergenceMs.p50 / 1000)} s, worst ${n2(x.convergenceMs.max / 1000)} s (${x.samplesMs.map(v => v == null ? 'none' : `${n2(v / 1000)}`).join(', ')})${x.notConverged > 0 ? `, ${x.notConverged} not converged` : ''}`
  const rows: Row[] = [['convergence at N = 20 (last ready line → all list all alive)', cell(rb), cell(ra), '≤ 1.5 s (median)', ra.notConverged === 0 && ra.convergenceMs.p50 <= 1_500]]
  // The start wave's work, less sensitive to the machine's load than its wall time (recorded since the wave was profiled).
  const work = (r: ResultFile): { cpu: { p50: number, max: number }, msgs: { p50: number } } | undefined => {
    const x = (r.data as { byN: any[] }).byN.find(y => y.n === 20)
    return x?.waveCpuMs == null || x.waveCpuMs.n === 0 ? undefined : { cpu: x.waveCpuMs, msgs: x.waveMessages }
  }
  const wb = work(b)
  const wa = work(a)
  if (wb != null && wa != null) {
    const cell = (w: NonNullable<typeof wb>): string => `CPU ${n0(w.cpu.p50)} ms (max ${n0(w.cpu.max)}), ${n0(w.msgs.p50)} membership messages (harombe_gossip_messages_total; after: topic messages included)`
    rows.push(['N = 20 start wave, per peer from its spawn to convergence, or to the time-out of a round that did not converge (median peer)', cell(wb), `${cell(wa)} — CPU **× ${n2(wa.cpu.p50 / wb.cpu.p50)}** of before`])
  }
  return rows
}

function failureRows (b: ResultFile | undefined, a: ResultFile | undefined): Row[] {
  if (b == null || a == null) return []
  const byWhat = (r: ResultFile, prefix: string): string => r.targets.find(t => t.what.startsWith(prefix))?.measured ?? '–'
  const metOf = (r: ResultFile): boolean => r.targets.every(t => t.met)
  return [
    ['kill -9 → no peer routes to the killed peer (worst of trials)', byWhat(b, 'kill -9'), byWhat(a, 'kill -9'), 'holds (≤ 2 s)', metOf(a)],
    ['client-visible failures / answers lost with another candidate up', `${byWhat(b, 'client-visible')} / ${byWhat(b, 'answers that had')}`, `${byWhat(a, 'client-visible')} / ${byWhat(a, 'answers that had')}`]
  ]
}

function chaosRows (b: ResultFile | undefined, a: ResultFile | undefined): Row[] {
  if (b == null || a == null) return []
  const byWhat = (r: ResultFile, prefix: string): string => r.targets.find(t => t.what.startsWith(prefix))?.measured ?? '–'
  return [['chaos run: success while a serving peer is up; hung; truncated', `${byWhat(b, 'success')}; ${byWhat(b, 'hung')}; ${byWhat(b, 'mid-stream')}`, `${byWhat(a, 'success')}; ${byWhat(a, 'hung')}; ${byWhat(a, 'mid-stream')}`, 'holds', a.targets.every(t => t.met)]]
}
