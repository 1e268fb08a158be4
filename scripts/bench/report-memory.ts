// BENCHMARKS.md section 17 (issue 25): a lone idle peer's RSS and a serving peer's under 16
// clients, "before" and "after" side by side from one run of scripts/bench/part-memory.ts.
import { n1, n2, table } from './markdown.js'
import type { ResultFile } from './results.js'
import type { IdleSample, ServingSample } from './part-memory.js'
import { round, summarize } from './stats.js'

export function memorySection (r: ResultFile): string {
  const p = r.params as any
  const d = r.data as { idle: IdleSample[], serving: ServingSample[] }
  const variants = (p.variants ?? []) as Array<{ key: string, label: string }>
  const idleRows = variants.map(v => {
    const mb = d.idle.filter(s => s.variant === v.key).sort((a, b) => a.round - b.round).map(s => s.rss_mb)
    return [v.label, mb.map(n1).join(' · '), mb.length > 0 ? n1(round(summarize(mb).p50, 1)) : '–']
  })
  const servingRows = variants.flatMap(v => d.serving.filter(s => s.variant === v.key).sort((a, b) => a.round - b.round).map(s => [
    v.label,
    String(s.round),
    n1(s.per_second),
    `${s.completed} / ${s.cancelled} / ${s.failed}`,
    `${n1(s.serving_rss_mb.start)} / ${n1(s.serving_rss_mb.p50)} / **${n1(s.serving_rss_mb.max)}**`,
    `${n1(s.entry_rss_mb.p50)} / ${n1(s.entry_rss_mb.max)}`,
    s.cpu_ms_per_request != null ? `${n2(s.cpu_ms_per_request.serving)} / ${n2(s.cpu_ms_per_request.entry)}` : '–'
  ]))
  const targets = r.targets.map(t => `- ${t.met ? '**met**' : '**missed**'}: ${t.what}: ${t.measured} (target ${t.target}).`).join('\n')
  const m = r.machine
  return [
    `A lone idle peer: \`harombe-peer start --backend none\`, RSS ${p.settleMs / 1000} s after its ready line (median of five reads a second apart), ${p.rounds} rounds. A serving peer: ${p.clients} closed-loop clients → an entry peer (\`--backend none\`) → a serving peer (\`--backend openai\`) in front of \`${p.upstream}\`; every other request streamed, every eighth stream closed by its client at the first token; ${p.warmupMs / 1000} s of warm-up, then ${p.windowMs / 1000} s with both peers' RSS read every ${p.sampleMs} ms, ${p.servingRounds ?? p.rounds} round(s). The variants ran interleaved in the same run (the order alternates by round); "before" is commit \`${p.beforeRef}\` built in a scratch directory. This machine is shared: 1-minute load average ${n1(m.loadAvgStart)} at the start and ${n1(m.loadAvgEnd)} at the end on ${m.cores} cores, so compare the rows of one table rather than absolute figures with other runs.`,
    '',
    table(['variant', 'idle RSS MB by round', 'median'], idleRows),
    '',
    table(['variant', 'round', 'req/s', 'answered / cancelled / failed', 'serving peer RSS MB start / p50 / max', 'entry peer RSS MB p50 / max', 'CPU ms per request serving / entry'], servingRows),
    '',
    targets
  ].join('\n')
}
