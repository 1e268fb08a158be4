// The soak's targets (issue 25), as pure functions of the samples and the request records, so
// each has a table test. Trends are measured after the warm-up (minute 10 of the full run): the
// first minutes fill caches, pools and JIT code on purpose.
import type { Sample } from './sampler.js'
import type { Outcome } from './requests.js'

export interface Point { t: number, v: number }

/** Least-squares slope of v over t (seconds), per hour; null with fewer than 2 points or no time spread. */
export function slopePerHour (points: Point[]): number | null {
  if (points.length < 2) return null
  const n = points.length
  const mt = points.reduce((s, p) => s + p.t, 0) / n
  const mv = points.reduce((s, p) => s + p.v, 0) / n
  let num = 0
  let den = 0
  for (const p of points) {
    num += (p.t - mt) * (p.v - mv)
    den += (p.t - mt) ** 2
  }
  return den === 0 ? null : num / den * 3600
}

const median = (xs: number[]): number | null => {
  if (xs.length === 0) return null
  const s = [...xs].sort((a, b) => a - b)
  const mid = Math.floor(s.length / 2)
  return s.length % 2 === 1 ? s[mid] as number : ((s[mid - 1] as number) + (s[mid] as number)) / 2
}

/**
 * Start and end level of a series: medians of its first and last `edge` points, so one sample
 * taken during a burst (a pull, a joiner's connections) does not decide.
 */
export function levels (points: Point[], edge = 3): { start: number, end: number } | null {
  if (points.length < 2) return null
  const k = Math.max(1, Math.min(edge, Math.floor(points.length / 2)))
  const start = median(points.slice(0, k).map(p => p.v))
  const end = median(points.slice(-k).map(p => p.v))
  return start == null || end == null ? null : { start, end }
}

/** Growth from start to end level in % of the start; null without two points. */
export function growthPct (points: Point[]): number | null {
  const l = levels(points)
  return l == null || l.start === 0 ? null : (l.end - l.start) / l.start * 100
}

/** Heap-after-GC readings: one point per new major collection (a repeated reading is not a new measurement). */
export function heapPoints (samples: Sample[], fromS: number): Point[] {
  const out: Point[] = []
  let lastGcs: number | null = null
  for (const s of samples) {
    if (s.t < fromS || s.heapAfterGcMb == null) continue
    if (s.majorGcs != null && s.majorGcs === lastGcs) continue
    lastGcs = s.majorGcs
    out.push({ t: s.t, v: s.heapAfterGcMb })
  }
  return out
}

export function pointsOf (samples: Sample[], key: 'rssMb' | 'fds' | 'connections' | 'streams' | 'heapUsedMb' | 'eventLoopP99Ms', fromS: number): Point[] {
  const out: Point[] = []
  for (const s of samples) {
    const v = s[key]
    if (s.t >= fromS && v != null) out.push({ t: s.t, v })
  }
  return out
}

export interface PeerTrend {
  heapAfterGcMbPerHour: number | null
  /**
   * The same slope over the second half of the measured window only. Not a target: it tells a
   * warm-up tail (V8's compiled code keeps growing for ~30 minutes, then stops: this slope falls
   * to ~0) from a leak (the same slope in both halves). Issue 25, heap snapshots.
   */
  heapAfterGcMbPerHourLastHalf: number | null
  heapReadings: number
  rss: { startMb: number, endMb: number, growthPct: number } | null
  fds: { start: number, end: number } | null
  connections: { start: number, end: number } | null
  streams: { start: number, end: number } | null
  eventLoopP99MsMax: number | null
}

export function peerTrend (samples: Sample[], fromS: number): PeerTrend {
  const heap = heapPoints(samples, fromS)
  const lastT = heap.at(-1)?.t
  const lastHalf = lastT == null ? [] : heap.filter(p => p.t >= (fromS + lastT) / 2)
  const rss = levels(pointsOf(samples, 'rssMb', fromS))
  const lv = (key: 'fds' | 'connections' | 'streams'): { start: number, end: number } | null => levels(pointsOf(samples, key, fromS))
  const lag = pointsOf(samples, 'eventLoopP99Ms', fromS).map(p => p.v)
  return {
    heapAfterGcMbPerHour: round(slopePerHour(heap), 3),
    heapAfterGcMbPerHourLastHalf: round(slopePerHour(lastHalf), 3),
    heapReadings: heap.length,
    rss: rss == null ? null : { startMb: round(rss.start, 1) as number, endMb: round(rss.end, 1) as number, growthPct: round((rss.end - rss.start) / rss.start * 100, 2) as number },
    fds: lv('fds'),
    connections: lv('connections'),
    streams: lv('streams'),
    eventLoopP99MsMax: lag.length === 0 ? null : Math.max(...lag)
  }
}

/** How far descriptors and connections may rise from start to end level and still count as flat. */
export const FLAT_SLACK = { fds: 5, connections: 1 }

export interface RequestTotals {
  sent: number
  byOutcome: Record<string, number>
  /** Requests whose serving peer was killed on purpose while they ran. */
  killedOnPurpose: { total: number, handedOver: number, failedCleanly: number, failedUnclean: number }
  /** Requests that failed and were not killed on purpose: the target is 0. */
  failed: number
}

/**
 * A request was "killed on purpose" when a kill -9 of the peer serving it (or of any serving peer,
 * when no peer had answered yet, or for a whole answer, whose header names the peer that finished
 * it) fell between its start and end. Such a request must then be
 * handed over (completed) or fail with a clean error; anything else is a failure.
 */
export function classify (records: Array<{ startedAt: number, endedAt: number, node: string | null, outcome: Outcome, kind?: string }>, kills: Array<{ t: number, peer: string }>): RequestTotals {
  const byOutcome: Record<string, number> = {}
  const killed = { total: 0, handedOver: 0, failedCleanly: 0, failedUnclean: 0 }
  let failed = 0
  for (const r of records) {
    byOutcome[r.outcome] = (byOutcome[r.outcome] ?? 0) + 1
    // A whole (non-streamed) answer names the peer that finished it, after any handover: one that
    // ran across a kill may have started on the killed peer.
    const whole = r.kind != null && !r.kind.endsWith('-stream') && !r.kind.startsWith('cancel-')
    const hit = kills.some(k => k.t >= r.startedAt && k.t <= r.endedAt && (r.node == null || r.node === k.peer || whole))
    if (hit) {
      killed.total++
      if (r.outcome === 'completed' || r.outcome === 'cancelled') killed.handedOver++
      else if (r.outcome === 'cleanError') killed.failedCleanly++
      else {
        killed.failedUnclean++
        failed++
      }
      continue
    }
    if (r.outcome !== 'completed' && r.outcome !== 'cancelled') failed++
  }
  return { sent: records.length, byOutcome, killedOnPurpose: killed, failed }
}

function round (v: number | null, digits: number): number | null {
  if (v == null || !Number.isFinite(v)) return null
  const f = 10 ** digits
  return Math.round(v * f) / f
}
