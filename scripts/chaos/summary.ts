// Totals for the chaos run, computed from the per-request records, the chaos event log and the
// live-candidate timeline. Every figure in chaos.json and BENCHMARKS.md comes from here.
import { roundSummary, summarize } from '../bench/stats.js'
import { minLive } from './cluster.js'
import { KINDS, type Outcome, type RequestRecord } from './requests.js'
import type { ChaosEvent } from './schedule.js'

export const OUTCOMES: Outcome[] = ['completed', 'cleanError', 'hung', 'truncated', 'corrupt', 'protocolError']

export type Totals = Record<Outcome, number> & { sent: number }

export interface ChaosSummary {
  totals: Totals
  /** Requests during all of which at least one serving peer was up (running, not frozen). */
  withCandidate: Totals
  /** completed / sent over `withCandidate`, in %. */
  successWithCandidatePct: number
  /**
   * Requests during all of which at least one serving peer was running and alive in the entry
   * peer's view: failures outside this set come from the views (a running peer held suspect or
   * dead, or every peer still alive in the view gone), not from routing or the HTTP edge.
   */
  withRoutableCandidate: Totals
  successWithRoutableCandidatePct: number
  /** completed / sent over all requests, in %. */
  successPct: number
  /** Clean errors of streams whose serving peer was killed or frozen while they ran. */
  cleanErrorsOnDisturbedPeer: number
  byKind: Record<string, Totals>
  /** Completed requests, ms: whole answer, and first content (streams). */
  latencyMs: ReturnType<typeof roundSummary>
  firstContentMs: ReturnType<typeof roundSummary>
  /** Requests served (x-harombe-node) per peer, completed only. */
  servedBy: Record<string, number>
  /** Distinct error messages per outcome (other than completed), with counts, most frequent first. */
  errors: Record<string, Array<{ message: string, count: number }>>
  /** Every request that did not complete cleanly or with a clean error: the ones the targets are about. */
  bad: RequestRecord[]
  /** Every request that did not complete (at most MAX_FAILURES_KEPT), for post-mortems against the event log. */
  failures: RequestRecord[]
}

/** Enough to read every failure of a normal run; a run where everything fails need not store thousands. */
const MAX_FAILURES_KEPT = 300

const zero = (): Totals => ({ sent: 0, completed: 0, cleanError: 0, hung: 0, truncated: 0, corrupt: 0, protocolError: 0 })

function count (records: RequestRecord[]): Totals {
  const t = zero()
  for (const r of records) {
    t.sent++
    t[r.outcome]++
  }
  return t
}

const pct = (a: number, b: number): number => b === 0 ? NaN : Math.round(a / b * 100_000) / 1_000

/** Numbers in messages (ms, peer ids, counts) would split one cause into many lines. */
function shapeOf (message: string): string {
  return message.replace(/12D3Koo\w+/g, '<peer>').replace(/\d+(\.\d+)?/g, 'N').slice(0, 200)
}

export function summarizeRun (records: RequestRecord[], events: ChaosEvent[], timeline: Array<{ t: number, live: number }>, routable?: Map<string, Array<{ t: number, live: number }>>): ChaosSummary {
  const covered = records.filter(r => minLive(timeline, r.startedAt, r.endedAt) >= 1)
  const routableFor = routable == null ? [] : records.filter(r => minLive(routable.get(r.entry) ?? [], r.startedAt, r.endedAt) >= 1)
  const withRoutableCandidate = count(routableFor)
  const totals = count(records)
  const withCandidate = count(covered)
  const disturbed = (r: RequestRecord): boolean => events.some(e =>
    e.peer === r.node && (e.action === 'kill -9' || e.action === 'SIGSTOP') && e.t >= r.startedAt && e.t <= r.endedAt)
  const byKind: Record<string, Totals> = {}
  for (const k of KINDS) byKind[k] = count(records.filter(r => r.kind === k))
  const completed = records.filter(r => r.outcome === 'completed')
  const servedBy: Record<string, number> = {}
  for (const r of completed) servedBy[r.node ?? '?'] = (servedBy[r.node ?? '?'] ?? 0) + 1
  const errors: ChaosSummary['errors'] = {}
  for (const o of OUTCOMES.filter(o => o !== 'completed')) {
    const by = new Map<string, number>()
    for (const r of records) if (r.outcome === o) by.set(shapeOf(r.error ?? ''), (by.get(shapeOf(r.error ?? '')) ?? 0) + 1)
    if (by.size > 0) errors[o] = [...by.entries()].sort((a, b) => b[1] - a[1]).slice(0, 10).map(([message, n]) => ({ message, count: n }))
  }
  return {
    totals,
    withCandidate,
    successWithCandidatePct: pct(withCandidate.completed, withCandidate.sent),
    withRoutableCandidate,
    successWithRoutableCandidatePct: pct(withRoutableCandidate.completed, withRoutableCandidate.sent),
    successPct: pct(totals.completed, totals.sent),
    cleanErrorsOnDisturbedPeer: records.filter(r => r.outcome === 'cleanError' && disturbed(r)).length,
    byKind,
    latencyMs: roundSummary(summarize(completed.map(r => r.endedAt - r.startedAt)), 1),
    firstContentMs: roundSummary(summarize(completed.filter(r => r.kind.endsWith('-stream') && r.firstContentAt != null).map(r => (r.firstContentAt as number) - r.startedAt)), 1),
    servedBy,
    errors,
    bad: records.filter(r => r.outcome !== 'completed' && r.outcome !== 'cleanError'),
    failures: records.filter(r => r.outcome !== 'completed').slice(0, MAX_FAILURES_KEPT)
  }
}

/** One line of counts, for progress and the final print. */
export function line (t: Totals): string {
  return `sent ${t.sent} · completed ${t.completed} · clean errors ${t.cleanError} · hung ${t.hung} · truncated ${t.truncated} · corrupt ${t.corrupt} · other ${t.protocolError}`
}
