// The simulator's runs: which (N, loss) with which events, the result file, and the targets of
// issue 12 judged against it.
import { execFileSync } from 'node:child_process'
import { loadavg } from 'node:os'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { REPO_ROOT } from '../bench/runtime.js'
import { machineInfo } from '../bench/results.js'
import { PROFILES } from '../../src/membership/profiles.js'
import { runJobs, type SimJob } from './jobs.js'
import { poissonUpper95, toRow, type SimRow } from './rows.js'
import type { ScenarioConfig, ScenarioOutcome } from './scenario.js'

export const RESULTS_DIR = join(REPO_ROOT, 'bench', 'results')
export const RESULT_FILE = 'membership-sim.json'
export const QUICK_RESULT_FILE = 'membership-sim.quick.json'

/** The CI shape check: per-peer messages may not grow with N (SWIM's point). */
export const MAX_MSGS_RATIO = 2

export type TargetStatus = 'met' | 'missed' | 'unproven'

export interface SimTarget {
  what: string
  target: string
  measured: string
  status: TargetStatus
}

export interface SimResultFile {
  part: 'membership-sim'
  title: string
  run: { date: string, gitCommit: string, gitDirty: boolean, command: string, mode: 'full' | 'quick', durationSeconds: number }
  /** loadAvg: the 1-minute load average at the start and end of the run (a busy machine shows here). */
  machine: { cpuModel: string, cores: number, memoryGb: number, os: string, node: string, loadAvgStart: number, loadAvgEnd: number }
  params: { profile: 'lan', parallel: boolean, jobs: Array<{ label: string, trials: number, config: ScenarioConfig }> }
  rows: SimRow[]
  targets: SimTarget[]
  notes: string[]
}

const SHARED = {
  latencyMs: [0.2, 50] as const,
  // The start-up announcements (each peer's own, retransmitted 4 × ⌈log10(N + 1)⌉ times) are spent within ~2 s.
  warmupMs: 3_000,
  slowFraction: 0.05,
  slowMs: 100,
  settleMs: 20_000
}

function job (label: string, trials: number, cost: number, config: Omit<ScenarioConfig, keyof typeof SHARED | 'seed'> & Partial<ScenarioConfig>): SimJob {
  return { label, trials, cost, config: { ...SHARED, seed: 1, ...config } }
}

/**
 * The full run. Virtual durations are cut to fit in about two minutes on two cores: N = 1,000 costs
 * about two seconds of CPU per virtual second idle and several while peers churn (the views are
 * copy-on-write: see BENCHMARKS.md), so it gets two short trials, one per core, with events spaced
 * so that crashes seldom overlap. Jobs with the same (N, loss) are pooled into one row;
 * small N get several independent trials rather than one long run, so their views never fill up
 * with dead members.
 */
export function fullJobs (): SimJob[] {
  const n1000 = { n: 1000, loss: 0.01, idleMs: 3_000, joins: 3, crashes: 3, eventSpacingMs: 1_000 }
  return [
    job('N=1000 loss=1% (a)', 1, 100, { ...n1000, seed: 1 }),
    job('N=1000 loss=1% (b)', 1, 100, { ...n1000, seed: 2 }),
    job('N=100 loss=1%', 1, 14, { n: 100, loss: 0.01, idleMs: 20_000, joins: 25, crashes: 25, eventSpacingMs: 1_000 }),
    job('N=100 loss=1% partition', 1, 15, { n: 100, loss: 0.01, seed: 3, idleMs: 10_000, joins: 0, crashes: 0, eventSpacingMs: 1_000, partition: { durationMs: 4_000, healTimeoutMs: 30_000 } }),
    job('N=100 loss=0%', 1, 6, { n: 100, loss: 0, idleMs: 20_000, joins: 10, crashes: 10, eventSpacingMs: 1_000 }),
    job('N=100 loss=5%', 1, 7, { n: 100, loss: 0.05, idleMs: 20_000, joins: 10, crashes: 10, eventSpacingMs: 1_000 }),
    job('N=10 loss=1%', 8, 3, { n: 10, loss: 0.01, idleMs: 60_000, joins: 4, crashes: 4, eventSpacingMs: 1_500 })
  ]
}

/** `--quick` (CI): N = 10 and 100 at 1 % loss, short windows; seconds. */
export function quickJobs (): SimJob[] {
  return [
    job('N=10 loss=1%', 2, 1, { n: 10, loss: 0.01, idleMs: 10_000, joins: 3, crashes: 3, eventSpacingMs: 1_000 }),
    job('N=100 loss=1%', 1, 5, { n: 100, loss: 0.01, idleMs: 10_000, joins: 3, crashes: 3, eventSpacingMs: 1_000 })
  ]
}

const fmtMs = (v: number | null): string => v == null ? '–' : `${Math.round(v).toLocaleString('en-US')} ms`
const rowAt = (rows: readonly SimRow[], n: number, loss: number): SimRow | undefined => rows.find(r => r.n === n && r.loss === loss)

/** The CI assertion: the N = 100 row's msgs per peer per second within 2 × of N = 10's. */
export function checkShape (rows: readonly SimRow[]): { ok: boolean, message: string } {
  const small = rowAt(rows, 10, 0.01)
  const large = rowAt(rows, 100, 0.01)
  if (small == null || large == null) return { ok: false, message: 'membership sim: the N = 10 or N = 100 row (1 % loss) is missing' }
  const ratio = large.msgs_per_peer_per_s / small.msgs_per_peer_per_s
  const text = `msgs per peer per second: N = 100 ${large.msgs_per_peer_per_s} vs N = 10 ${small.msgs_per_peer_per_s} (× ${ratio.toFixed(2)}, limit × ${MAX_MSGS_RATIO})`
  return ratio <= MAX_MSGS_RATIO ? { ok: true, message: `membership sim shape ok: ${text}` } : { ok: false, message: `membership sim shape FAILED: ${text} — per-peer traffic grows with N` }
}

/** Issue 12's targets, judged on the rows. */
export function evaluateTargets (rows: readonly SimRow[]): SimTarget[] {
  const out: SimTarget[] = []
  const small = rowAt(rows, 10, 0.01)
  const large = rowAt(rows, 1000, 0.01)
  if (small != null && large != null) {
    const ratio = large.msgs_per_peer_per_s / small.msgs_per_peer_per_s
    out.push({ what: 'msgs per peer per second, N = 1,000 vs N = 10 (1 % loss)', target: `≤ ${MAX_MSGS_RATIO} ×`, measured: `${large.msgs_per_peer_per_s} vs ${small.msgs_per_peer_per_s} (× ${ratio.toFixed(2)})`, status: ratio <= MAX_MSGS_RATIO ? 'met' : 'missed' })
  }
  if (large != null) {
    const p99 = large.crash_detect_ms_p99
    const missing = large.crashes_undetected > 0
    out.push({ what: 'crash held not alive by every peer, p99, N = 1,000, 1 % loss', target: '≤ 3 s', measured: `${fmtMs(p99)} over ${large.crashes} crashes${missing ? ` (${large.crashes_undetected} never detected)` : ''}`, status: p99 != null && p99 <= 3_000 && !missing ? 'met' : 'missed' })
    const jp99 = large.join_converge_ms_p99
    const jmissing = large.joins_unconverged > 0
    out.push({ what: 'join listed alive by every peer, p99, N = 1,000', target: '≤ 2 s', measured: `${fmtMs(jp99)} over ${large.joins} joins${jmissing ? ` (${large.joins_unconverged} never converged)` : ''}`, status: jp99 != null && jp99 <= 2_000 && !jmissing ? 'met' : 'missed' })
  }
  const lossy = rows.filter(r => r.loss === 0.01)
  if (lossy.length > 0) {
    const deaths = lossy.reduce((s, r) => s + r.false_deaths, 0)
    const hours = lossy.reduce((s, r) => s + r.peer_hours, 0)
    const rate = deaths / hours * 1000
    const ub = poissonUpper95(deaths) / hours * 1000
    const status: TargetStatus = rate > 1 ? 'missed' : ub <= 1 ? 'met' : 'unproven'
    out.push({
      what: 'false deaths at 1 % loss (all 1 % rows pooled)',
      target: '≤ 1 per 1,000 peer-hours',
      measured: `${deaths} in ${hours.toFixed(1)} peer-hours = ${rate.toFixed(1)} per 1,000 (95 % upper bound ${ub.toFixed(0)})`,
      status
    })
  }
  return out
}

function git (...args: string[]): string {
  try {
    // --no-optional-locks: reading the status must not rewrite the index.
    return execFileSync('git', ['--no-optional-locks', ...args], { cwd: REPO_ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()
  } catch {
    return ''
  }
}

function commandLine (quick: boolean): string {
  const direct = `tsx scripts/sim/run.ts${quick ? ' --quick' : ''}`
  const script = process.env.npm_lifecycle_event
  return script === 'sim' ? `npm run sim${quick ? ' -- --quick' : ''} (${direct})` : direct
}

export interface SuiteOptions {
  quick: boolean
  /** Worker threads, one per core (the CLI's full run); in-process otherwise. */
  parallel: boolean
  progress?: (job: SimJob, text: string) => void
  /** Replaces the job list (tests). */
  jobs?: SimJob[]
}

export async function runSuite (options: SuiteOptions): Promise<SimResultFile> {
  const started = performance.now()
  const loadAvgStart = loadavg()[0] ?? 0
  const jobs = options.jobs ?? (options.quick ? quickJobs() : fullJobs())
  const outcomes = await runJobs(jobs, { parallel: options.parallel, progress: options.progress ?? (() => {}) })
  // Jobs of the same (N, loss) are trials of one row.
  const byRow = new Map<string, ScenarioOutcome[]>()
  for (const o of outcomes.flat()) byRow.set(`${o.n}/${o.loss}`, [...(byRow.get(`${o.n}/${o.loss}`) ?? []), o])
  const rows = [...byRow.values()].map(o => toRow(o)).sort((a, b) => a.n - b.n || a.loss - b.loss)
  return {
    part: 'membership-sim',
    title: 'Membership simulator (SWIM in virtual time)',
    run: {
      date: new Date().toISOString(),
      gitCommit: git('rev-parse', 'HEAD') || 'unknown',
      gitDirty: git('status', '--porcelain') !== '',
      command: commandLine(options.quick),
      mode: options.quick ? 'quick' : 'full',
      durationSeconds: Math.round((performance.now() - started) / 100) / 10
    },
    machine: machineInfo(loadAvgStart),
    params: { profile: 'lan', parallel: options.parallel, jobs: jobs.map(j => ({ label: j.label, trials: j.trials, config: j.config })) },
    rows,
    targets: evaluateTargets(rows),
    notes: [
      `Timing profile PROFILES.lan: probe every ${PROFILES.lan.probeIntervalMs} ms, probe timeout ${PROFILES.lan.probeTimeoutMs} ms, ${PROFILES.lan.indirectChecks} indirect checks, gossip every ${PROFILES.lan.gossipIntervalMs} ms to ${PROFILES.lan.gossipFanout}, push-pull every ${PROFILES.lan.antiEntropyIntervalMs / 1000} s × pushPullScale(N).`
    ]
  }
}

export function writeResultFile (file: SimResultFile): string {
  mkdirSync(RESULTS_DIR, { recursive: true })
  const path = join(RESULTS_DIR, file.run.mode === 'quick' ? QUICK_RESULT_FILE : RESULT_FILE)
  writeFileSync(path, JSON.stringify(file, null, 2) + '\n')
  return path
}
