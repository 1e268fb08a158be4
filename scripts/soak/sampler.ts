// Every sample interval, each running peer's /metrics: memory, descriptors, connections, streams,
// event-loop delay and the bounded structures' sizes against their bounds. Read from the outside,
// as an operator's Prometheus would.

export interface Sample {
  /** Seconds since the run started. */
  t: number
  /** Which life of the peer (restarts and the joiner's rejoins start a new one). */
  life: number
  rssMb: number | null
  /** Heap in use as of the last major collection (harombe_heap_used_after_gc_bytes). */
  heapAfterGcMb: number | null
  majorGcs: number | null
  /** Heap in use at the scrape (between collections). */
  heapUsedMb: number | null
  fds: number | null
  connections: number | null
  streams: number | null
  eventLoopP99Ms: number | null
  /** Structures whose size exceeded their bound at this scrape. */
  overBound: Array<{ structure: string, size: number, limit: number }>
  /** The largest size / limit ratio over all bounded structures (0 when there are none). */
  boundedMaxFill: number
  boundedCount: number
}

export type Series = Record<string, Sample[]>

export interface BoundedMax {
  /** Per peer and structure: the largest size seen and the bound. */
  [peer: string]: Record<string, { maxSize: number, limit: number }>
}

/** One value per `name{labels}` line; labels kept raw. Exported for tests. */
export function parseMetrics (text: string): Map<string, Array<{ labels: string, value: number }>> {
  const out = new Map<string, Array<{ labels: string, value: number }>>()
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)/.exec(line)
    if (m == null) continue
    const list = out.get(m[1] as string) ?? []
    list.push({ labels: m[2] ?? '', value: Number(m[3]) })
    out.set(m[1] as string, list)
  }
  return out
}

const label = (labels: string, name: string): string | undefined => new RegExp(`${name}="([^"]*)"`).exec(labels)?.[1]

/** A sample from one scrape. Exported for tests. */
export function sampleOf (text: string, t: number, life: number): Sample {
  const m = parseMetrics(text)
  const one = (name: string): number | null => {
    const v = m.get(name)?.[0]?.value
    return v != null && Number.isFinite(v) ? v : null
  }
  const mb = (v: number | null): number | null => v == null ? null : Math.round(v / 1024 / 1024 * 100) / 100
  const sizes = new Map((m.get('harombe_bounded_size') ?? []).map(x => [label(x.labels, 'structure') ?? '', x.value]))
  const limits = new Map((m.get('harombe_bounded_limit') ?? []).map(x => [label(x.labels, 'structure') ?? '', x.value]))
  const overBound: Sample['overBound'] = []
  let boundedMaxFill = 0
  for (const [structure, size] of sizes) {
    const limit = limits.get(structure) ?? NaN
    if (!(size <= limit)) overBound.push({ structure, size, limit })
    if (limit > 0) boundedMaxFill = Math.max(boundedMaxFill, size / limit)
  }
  const lag = one('nodejs_eventloop_lag_p99_seconds')
  return {
    t,
    life,
    rssMb: mb(one('process_resident_memory_bytes')),
    // The gauge reads 0 until the first major collection: no reading yet, not an empty heap.
    heapAfterGcMb: (one('harombe_major_gcs_observed') ?? 0) > 0 ? mb(one('harombe_heap_used_after_gc_bytes')) : null,
    majorGcs: one('harombe_major_gcs_observed'),
    heapUsedMb: mb(one('nodejs_heap_size_used_bytes')),
    fds: one('process_open_fds'),
    connections: one('harombe_mesh_connections'),
    streams: one('harombe_mesh_streams'),
    eventLoopP99Ms: lag == null ? null : Math.round(lag * 1000 * 100) / 100,
    overBound,
    boundedMaxFill: Math.round(boundedMaxFill * 1000) / 1000,
    boundedCount: sizes.size
  }
}

/** Folds a scrape's bounded readings into the per-peer maxima. */
export function foldBounded (into: BoundedMax, peer: string, text: string): void {
  const m = parseMetrics(text)
  const limits = new Map((m.get('harombe_bounded_limit') ?? []).map(x => [label(x.labels, 'structure') ?? '', x.value]))
  const mine = (into[peer] ??= {})
  for (const x of m.get('harombe_bounded_size') ?? []) {
    const structure = label(x.labels, 'structure') ?? ''
    const prev = mine[structure]
    mine[structure] = { maxSize: Math.max(prev?.maxSize ?? 0, x.value), limit: limits.get(structure) ?? NaN }
  }
}

export async function scrape (api: string, timeoutMs: number): Promise<string> {
  const res = await fetch(`${api}/metrics`, { signal: AbortSignal.timeout(timeoutMs) })
  if (!res.ok) throw new Error(`GET ${api}/metrics: HTTP ${res.status}`)
  return await res.text()
}
