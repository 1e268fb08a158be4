// The soak's BENCHMARKS.md section and its plot (bench/soak.svg), from bench/results/soak[.quick].json.
// Called by scripts/bench/report.ts like every other part; nothing is typed in by hand.
import { n0, n1, n2, table } from '../bench/markdown.js'
import type { ResultFile } from '../bench/results.js'
import type { Sample } from './sampler.js'
import type { PeerTrend } from './verdict.js'

const PEER_ORDER = ['entry-a', 'entry-b', 'serve-1', 'serve-2', 'joiner']
const COLORS: Record<string, string> = { 'entry-a': '#1f77b4', 'entry-b': '#17becf', 'serve-1': '#d62728', 'serve-2': '#2ca02c', joiner: '#9467bd' }
const BARS = '▁▂▃▄▅▆▇█'

/** A Unicode sparkline of `values` in at most `width` characters (bucket means); blanks where there is no reading. */
export function sparkline (values: Array<number | null>, width = 32): string {
  if (values.length === 0) return ''
  const buckets: Array<number | null> = []
  const per = Math.max(1, Math.ceil(values.length / width))
  for (let i = 0; i < values.length; i += per) {
    const xs = values.slice(i, i + per).filter((v): v is number => v != null && Number.isFinite(v))
    buckets.push(xs.length === 0 ? null : xs.reduce((s, v) => s + v, 0) / xs.length)
  }
  const real = buckets.filter((v): v is number => v != null)
  if (real.length === 0) return ' '.repeat(buckets.length)
  const lo = Math.min(...real)
  const hi = Math.max(...real)
  return buckets.map(v => v == null ? ' ' : BARS[hi === lo ? 3 : Math.round((v - lo) / (hi - lo) * (BARS.length - 1))]).join('')
}

const peersOf = (series: Record<string, Sample[]>): string[] =>
  [...PEER_ORDER.filter(p => series[p] != null), ...Object.keys(series).filter(p => !PEER_ORDER.includes(p))]

const range = (xs: Array<number | null>): string => {
  const v = xs.filter((x): x is number => x != null)
  return v.length === 0 ? '–' : `${n1(Math.min(...v))}–${n1(Math.max(...v))}`
}

export function soakSection (r: ResultFile, svgPath: string): string {
  const p = r.params as any
  const d = r.data as any
  const req = d.requests
  const k = req.killedOnPurpose
  const series = d.series as Record<string, Sample[]>
  const trends = d.trends as Record<string, PeerTrend>
  const lives = (name: string): number => Math.max(0, ...(series[name] ?? []).map(s => s.life))
  const out: string[] = []
  out.push(`${n1(p.durationS / 60)} minutes of load, ${p.clients} clients, sampled every ${p.sampleS} s; trends measured after minute ${n1(p.warmupS / 60)}. Peers: ${p.peers}. Upstream: ${p.upstream}. Workload: ${p.workload}. Schedule: ${p.schedule}. Load average (1/5/15 min) ${p.loadAvg1_5_15Start.join(' / ')} at the start, ${p.loadAvg1_5_15End.join(' / ')} at the end; the CLI ran ${p.cliRuntime}.`)
  out.push('')
  const outcomes = req.byOutcome as Record<string, number>
  out.push(table(
    ['requests', 'completed', 'cancelled by the client', 'failed (not killed on purpose)', 'killed on purpose: handed over / clean error / unclean', 'handovers (entry peers\' counter)', 'pulls ok / failed'],
    [[n0(req.sent), n0(outcomes.completed ?? 0), n0(outcomes.cancelled ?? 0), n0(req.failed), `${n0(k.total)}: ${n0(k.handedOver)} / ${n0(k.failedCleanly)} / ${n0(k.failedUnclean)}`, n0(req.handedOverByEntryPeers), `${d.pulls.ok} / ${d.pulls.failed}`]]
  ))
  out.push('')
  const kinds = Object.keys(req.byKind ?? {}).sort()
  if (kinds.length > 0) {
    out.push(table(['kind', ...kinds.map(x => `\`${x}\``)], [['outcomes', ...kinds.map(x => Object.entries(req.byKind[x] as Record<string, number>).map(([o, c]) => `${o} ${n0(c)}`).join(', '))]]))
    out.push('')
  }
  out.push(`Per peer (start and end = medians of the first and last three samples after the warm-up; serve-1 and the joiner over their last life only). The sparklines span the whole run.`)
  out.push('')
  out.push(table(
    ['peer', 'lives', 'RSS MB start → end', 'heap after GC, MB/hour (readings)', 'descriptors', 'connections', 'streams', 'event-loop p99 max ms', 'RSS', 'heap after GC'],
    peersOf(series).map(name => {
      const t = trends[name]
      const s = series[name] ?? []
      const lv = (x: { start: number, end: number } | null | undefined): string => x == null ? '–' : `${n0(x.start)} → ${n0(x.end)}`
      return [
        name,
        String(lives(name)),
        t?.rss == null ? '–' : `${n1(t.rss.startMb)} → ${n1(t.rss.endMb)} (${t.rss.growthPct >= 0 ? '+' : ''}${n2(t.rss.growthPct)} %)`,
        t == null ? '–' : `${t.heapAfterGcMbPerHour == null ? '–' : n2(t.heapAfterGcMbPerHour)} (${t.heapReadings}); second half ${t.heapAfterGcMbPerHourLastHalf == null ? '–' : n2(t.heapAfterGcMbPerHourLastHalf)}`,
        lv(t?.fds),
        lv(t?.connections),
        lv(t?.streams),
        n1(t?.eventLoopP99MsMax),
        `\`${sparkline(s.map(x => x.rssMb))}\` ${range(s.map(x => x.rssMb))}`,
        `\`${sparkline(s.map(x => x.heapAfterGcMb))}\` ${range(s.map(x => x.heapAfterGcMb))}`
      ]
    })
  ))
  out.push('')
  const bounded = d.bounded as Record<string, Record<string, { maxSize: number, limit: number }>>
  const rows = Object.entries(bounded).flatMap(([peer, m]) => Object.entries(m).map(([name, b]) => [peer, `\`${name}\``, n0(b.maxSize), n0(b.limit), b.maxSize <= b.limit ? 'within' : '**over**']))
  out.push(rows.length > 0
    ? `Bounded structures (\`harombe_bounded_size\` / \`harombe_bounded_limit\`), the largest size seen at any sample:\n\n${table(['peer', 'structure', 'max size', 'bound', ''], rows)}`
    : 'Bounded structures: none registered in the peers of this run (`harombe_bounded_size` empty).')
  out.push('')
  out.push(`![Soak: RSS, heap after GC, descriptors, connections, streams and event-loop delay per peer over time](${svgPath})`)
  return out.join('\n')
}

/** The soak's line in the report's "In short". */
export function soakHighlight (r: ResultFile): string {
  const p = r.params as any
  const d = r.data as any
  const req = d.requests
  const trends = d.trends as Record<string, PeerTrend>
  const long = ['entry-a', 'entry-b', 'serve-2'].filter(n => trends[n] != null)
  const heap = long.map(n => `${n} ${trends[n]?.heapAfterGcMbPerHour == null ? '–' : n2(trends[n]?.heapAfterGcMbPerHour)}`).join(', ')
  const rss = long.map(n => `${n} ${trends[n]?.rss == null ? '–' : `${trends[n]?.rss?.growthPct as number >= 0 ? '+' : ''}${n1(trends[n]?.rss?.growthPct)} %`}`).join(', ')
  return `Soak (${n1(p.durationS / 60)} min, ${p.clients} clients, kill -9 / joiner / pulls): ${n0(req.sent)} requests, ${n0(req.failed)} failed besides ${n0(req.killedOnPurpose.total)} killed on purpose (${n0(req.killedOnPurpose.handedOver)} handed over, ${n0(req.killedOnPurpose.failedCleanly)} clean errors); heap after GC after minute ${n1(p.warmupS / 60)}, MB/hour: ${heap}; RSS: ${rss}.`
}

interface Panel { key: keyof Sample, title: string }
const PANELS: Panel[] = [
  { key: 'rssMb', title: 'RSS (MB)' },
  { key: 'heapAfterGcMb', title: 'heap after last major GC (MB)' },
  { key: 'fds', title: 'open descriptors' },
  { key: 'connections', title: 'mesh connections' },
  { key: 'streams', title: 'mesh streams' },
  { key: 'eventLoopP99Ms', title: 'event-loop delay p99 (ms)' }
]

/** Six panels (one per metric), a line per peer (broken at restarts), the warm-up and the kills marked. */
export function soakSvg (r: ResultFile, file: string): string {
  const d = r.data as any
  const p = r.params as any
  const series = d.series as Record<string, Sample[]>
  const peers = peersOf(series)
  const kills = (d.events as Array<{ t: number, action: string }>).filter(e => e.action === 'kill -9').map(e => e.t)
  const W = 880
  const PW = 420
  const PH = 170
  const m = { l: 52, r: 12, t: 26, b: 26 }
  const top = 48
  const tMax = Math.max(p.durationS, ...Object.values(series).flatMap(s => s.map(x => x.t)))
  const panels = PANELS.map((panel, i) => {
    const ox = (i % 2) * (PW + 20)
    const oy = top + Math.floor(i / 2) * (PH + 12)
    const values = peers.flatMap(name => (series[name] ?? []).map(s => s[panel.key] as number | null)).filter((v): v is number => v != null && Number.isFinite(v))
    const hi = values.length === 0 ? 1 : Math.max(...values) * 1.08 || 1
    const lo = panel.key === 'rssMb' || panel.key === 'heapAfterGcMb' ? Math.max(0, Math.min(...values) * 0.9) : 0
    const x = (t: number): string => (ox + m.l + t / tMax * (PW - m.l - m.r)).toFixed(1)
    const y = (v: number): string => (oy + PH - m.b - (v - lo) / ((hi - lo) || 1) * (PH - m.t - m.b)).toFixed(1)
    const lines = peers.flatMap(name => {
      const byLife = new Map<number, string[]>()
      for (const s of series[name] ?? []) {
        const v = s[panel.key] as number | null
        if (v == null || !Number.isFinite(v)) continue
        const pts = byLife.get(s.life) ?? []
        pts.push(`${x(s.t)},${y(v)}`)
        byLife.set(s.life, pts)
      }
      return [...byLife.values()].map(pts => `<polyline points="${pts.join(' ')}" fill="none" stroke="${COLORS[name] ?? '#555'}" stroke-width="1.5"/>`)
    })
    const ticks = [lo, (lo + hi) / 2, hi].map(v => `<line x1="${ox + m.l}" y1="${y(v)}" x2="${ox + PW - m.r}" y2="${y(v)}" stroke="#eee"/><text x="${ox + m.l - 4}" y="${Number(y(v)) + 4}" text-anchor="end">${v >= 100 ? Math.round(v) : v.toFixed(1)}</text>`)
    const minutes = Math.max(1, Math.ceil(tMax / 60))
    const every = minutes > 20 ? 10 : minutes > 5 ? 2 : 1
    const xTicks: string[] = []
    for (let mi = 0; mi * 60 <= tMax; mi += every) xTicks.push(`<text x="${x(mi * 60)}" y="${oy + PH - m.b + 14}" text-anchor="middle">${mi}</text>`)
    const warm = `<line x1="${x(p.warmupS)}" y1="${oy + m.t}" x2="${x(p.warmupS)}" y2="${oy + PH - m.b}" stroke="#999" stroke-dasharray="4 3"/>`
    const killMarks = kills.map(t => `<line class="kill" x1="${x(t)}" y1="${oy + m.t}" x2="${x(t)}" y2="${oy + m.t + 6}" stroke="#d62728" stroke-width="1.5"/>`)
    return `<g>
<text x="${ox + m.l}" y="${oy + 16}" font-size="13">${panel.title}</text>
${ticks.join('\n')}
<line x1="${ox + m.l}" y1="${oy + PH - m.b}" x2="${ox + PW - m.r}" y2="${oy + PH - m.b}" stroke="#333"/>
${xTicks.join('\n')}
${warm}
${killMarks.join('')}
${lines.join('\n')}
</g>`
  })
  const H = top + Math.ceil(PANELS.length / 2) * (PH + 12) + 20
  const legend = peers.map((name, i) => `<rect x="${20 + i * 120}" y="30" width="14" height="4" fill="${COLORS[name] ?? '#555'}"/><text x="${38 + i * 120}" y="35">${name}</text>`).join('')
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11" fill="#333">
<title>Soak per peer over time (from bench/results/${file})</title>
<rect width="${W}" height="${H}" fill="#fff"/>
<text x="${W / 2}" y="18" text-anchor="middle" font-size="14">Soak: ${n1(p.durationS / 60)} min, sampled every ${p.sampleS} s (x: minutes; dashed: end of warm-up; red ticks: kill -9 of serve-1)</text>
${legend}
${panels.join('\n')}
</svg>
`
}
