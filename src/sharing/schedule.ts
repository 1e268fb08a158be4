// Pure policy of a pull: which source gets which chunk, what a failure costs a source, and what a
// resumed pull still has to fetch. No I/O and no clock of its own: table-tested in
// test/unit/sharing-schedule.test.ts.

export interface SourceState {
  id: string
  /** Chunks requested from it and not answered yet. */
  inFlight: number
  /** Its announced inference load, (active + queued) / capacity; 0 when unknown. */
  load: number
  /** Errors, cut streams and timeouts; a hash mismatch counts MISMATCH_WEIGHT. */
  failures: number
  /** Chunks it sent that failed their hash. */
  mismatches: number
  /** Not asked again before this instant (it said busy, or just failed). */
  busyUntil: number
  /** When its last counted failure happened (absent: none yet). */
  failedAt?: number
}

export interface ChunkState {
  index: number
  status: 'missing' | 'inflight' | 'done'
  /** Requests out for it: normally one; two when a slow one was duplicated. */
  attempts: Array<{ source: string, startedAt: number }>
}

export interface SchedulePolicy {
  maxPerSource: number
  maxTotal: number
  maxFailures: number
  slowFactor: number
  slowFloorMs: number
}

export interface Assignment {
  index: number
  source: string
  /** A second request for a chunk already in flight on a slow source. */
  duplicate: boolean
}

/** A bad hash is worse than a dropped stream: it is a lying or broken disk, not a flaky link. */
export const MISMATCH_WEIGHT = 2

/** Back-off after a `busy` answer: the uploader is at its limit, not failing. */
export const BUSY_BACKOFF_MS = 500

/**
 * Failures this close together count once: a dropped connection fails every chunk in flight on it
 * at the same instant, and that is one event, not four. The source also rests this long.
 */
export const FAILURE_WINDOW_MS = 1_000

export function isExcluded (source: SourceState, policy: Pick<SchedulePolicy, 'maxFailures'>): boolean {
  return source.failures >= policy.maxFailures
}

/**
 * Who asks first: never-penalised sources before penalised ones, then least loaded (our requests in
 * flight to it plus its announced inference load), then fewer failures, then id (a stable order).
 */
export function compareSources (a: SourceState, b: SourceState): number {
  const penalty = Number(a.failures > 0) - Number(b.failures > 0)
  if (penalty !== 0) return penalty
  const load = (a.inFlight + a.load) - (b.inFlight + b.load)
  if (load !== 0) return load
  if (a.failures !== b.failures) return a.failures - b.failures
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0
}

/**
 * The next requests to send: missing chunks, lowest index first, each to the best source with a
 * free slot. With no missing chunk left, an idle source takes over a chunk that has been in flight
 * on another source for more than slowFactor × the median chunk time (first answer wins).
 */
export function assign (chunks: ChunkState[], sources: SourceState[], now: number, medianMs: number | undefined, policy: SchedulePolicy): Assignment[] {
  const pool = sources.map(s => ({ ...s }))
  let total = chunks.reduce((n, c) => n + c.attempts.length, 0)
  const out: Assignment[] = []
  const best = (exclude?: Set<string>): SourceState | undefined => pool
    .filter(s => !isExcluded(s, policy) && s.busyUntil <= now && s.inFlight < policy.maxPerSource && exclude?.has(s.id) !== true)
    .sort(compareSources)[0]

  for (const chunk of chunks) {
    if (chunk.status !== 'missing') continue
    if (total >= policy.maxTotal) return out
    const source = best()
    if (source == null) return out
    source.inFlight++
    total++
    out.push({ index: chunk.index, source: source.id, duplicate: false })
  }
  const slowAfter = Math.max(policy.slowFloorMs, medianMs != null ? medianMs * policy.slowFactor : 0)
  const slow = chunks
    .filter(c => c.status === 'inflight' && c.attempts.length === 1 && now - (c.attempts[0]?.startedAt ?? now) > slowAfter)
    .sort((a, b) => (a.attempts[0]?.startedAt ?? 0) - (b.attempts[0]?.startedAt ?? 0))
  for (const chunk of slow) {
    if (total >= policy.maxTotal) break
    const source = best(new Set(chunk.attempts.map(a => a.source)))
    if (source == null) break
    source.inFlight++
    total++
    out.push({ index: chunk.index, source: source.id, duplicate: true })
  }
  return out
}

export type ChunkOutcome = 'ok' | 'mismatch' | 'failed' | 'busy'

/** A source after one of its chunks ended with `outcome`. */
export function afterOutcome (source: SourceState, outcome: ChunkOutcome, now: number): SourceState {
  const next = { ...source, inFlight: Math.max(0, source.inFlight - 1) }
  if (outcome === 'mismatch') return { ...next, mismatches: next.mismatches + 1, failures: next.failures + MISMATCH_WEIGHT }
  if (outcome === 'failed') {
    if (source.failedAt != null && now - source.failedAt < FAILURE_WINDOW_MS) return next
    return { ...next, failures: next.failures + 1, failedAt: now, busyUntil: now + FAILURE_WINDOW_MS }
  }
  if (outcome === 'busy') return { ...next, busyUntil: now + BUSY_BACKOFF_MS }
  return next
}

/** What a resumed pull still needs: chunks of the partial file whose hash matches are kept. */
export function resumePlan (expected: string[], found: Array<string | undefined>): { done: number[], missing: number[] } {
  const done: number[] = []
  const missing: number[] = []
  expected.forEach((hash, index) => { (found[index] === hash ? done : missing).push(index) })
  return { done, missing }
}

/** Median of recent chunk times (undefined before the first): the yardstick of "slow". */
export function median (values: number[]): number | undefined {
  if (values.length === 0) return undefined
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[mid] : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2
}
