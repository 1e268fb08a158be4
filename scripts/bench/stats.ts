// Distributions for the benchmark results: every figure is reported as p50/p90/p99 over samples.

export interface Summary {
  n: number
  min: number
  p50: number
  p90: number
  p99: number
  max: number
  mean: number
}

/** Linear interpolation between closest ranks (what numpy's default does), so small samples are not jumpy. */
export function percentile (sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN
  const rank = (p / 100) * (sorted.length - 1)
  const lo = Math.floor(rank)
  const hi = Math.ceil(rank)
  const a = sorted[lo] as number
  const b = sorted[hi] as number
  return a + (b - a) * (rank - lo)
}

export function summarize (values: number[]): Summary {
  const sorted = values.filter(v => Number.isFinite(v)).sort((a, b) => a - b)
  const n = sorted.length
  return {
    n,
    min: sorted[0] ?? NaN,
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p99: percentile(sorted, 99),
    max: sorted[n - 1] ?? NaN,
    mean: n === 0 ? NaN : sorted.reduce((s, v) => s + v, 0) / n
  }
}

export const median = (values: number[]): number => summarize(values).p50

/** Rounds for JSON output: results are read by people, not re-analysed at nanosecond precision. */
export function round (value: number, digits = 3): number {
  if (!Number.isFinite(value)) return value
  const f = 10 ** digits
  return Math.round(value * f) / f
}

export function roundSummary (s: Summary, digits = 3): Summary {
  return {
    n: s.n,
    min: round(s.min, digits),
    p50: round(s.p50, digits),
    p90: round(s.p90, digits),
    p99: round(s.p99, digits),
    max: round(s.max, digits),
    mean: round(s.mean, digits)
  }
}
