// Section 15 of BENCHMARKS.md: `bench:embed` (issue 29). The latest run, and the before/after
// runs of issue 29's mesh work kept in `bench/results/ab-29/`: the same harness alternating
// between the code before (its `ab.src` names the commit whose src/ ran) and after, in one
// session, so both saw the same machine load. Every figure is read from those files.
import { n1, n2, signed, table } from './markdown.js'
import type { ResultFile } from './results.js'

interface EmbedData {
  sequentialMs: { direct: { p50: number, p90: number, p99: number, n: number }, hop: { p50: number, p90: number, p99: number, n: number } }
  throughputPerSecond: { direct: number, hop: number }
  cpuMsPerRequest?: { direct: number, hop: number }
  addedP50Ms: number
  throughputRatio: number
}

/** Which side of the comparison a kept run is, and the commit whose src/ it ran. */
interface AbTag { which: 'before' | 'after', src: string }

const when = (r: ResultFile): string => `${r.run.date.slice(0, 16).replace('T', ' ')} UTC`

export function embedSection (r: ResultFile, ab: Map<string, ResultFile>): string {
  const d = r.data as unknown as EmbedData
  const p = r.params as any
  const s = (x: EmbedData['sequentialMs']['direct']): string[] => [n2(x.p50), n2(x.p90), n2(x.p99), String(x.n)]
  const cpu = d.cpuMsPerRequest
  const out = [
    `${String(p.inputsPerRequest)} inputs of ${String(p.charsPerInput)} characters (~${Number(p.charsPerInput) / 4} tokens) per request, ${String(p.dims)}-dimension vectors, \`POST /v1/embeddings\` with \`encoding_format: float\`. Backend: ${String(p.backend)}; ${String(p.peers)}. Sequential requests alternate between the paths; throughput is ${String(p.concurrency)} concurrent clients, the paths alternating in 4 rounds of ${Number(p.concurrentRequests) / 4} requests. CPU per request is this process's user + system CPU time (both peers and the clients) over the throughput rounds, divided by the requests.\n`,
    table(['path', 'ms p50', 'p90', 'p99', 'n', 'req/s (8 clients)', 'CPU ms per request'], [
      ['straight to the serving peer', ...s(d.sequentialMs.direct), n1(d.throughputPerSecond.direct), n2(cpu?.direct)],
      ['entry peer → one mesh hop', ...s(d.sequentialMs.hop), n1(d.throughputPerSecond.hop), n2(cpu?.hop)]
    ]),
    `\nAdded p50: ${signed(d.addedP50Ms)} ms; throughput × ${n2(d.throughputRatio)}${cpu != null ? `; the hop costs ${signed(cpu.hop - cpu.direct)} ms of CPU per request` : ''}.`
  ]
  const runs = [...ab.values()]
    .filter(run => (run as unknown as { ab?: AbTag }).ab != null)
    .sort((a, b) => a.run.date.localeCompare(b.run.date))
  if (runs.length > 0) {
    const tag = (run: ResultFile): AbTag => (run as unknown as { ab: AbTag }).ab
    const befores = runs.filter(run => tag(run).which === 'before').map(run => tag(run).src.slice(0, 8))
    out.push(
      `\n**Before and after issue 29's mesh work** (\`bench/results/ab-29/\`), alternating in one session on the same machine: "before" ran src/ at \`${[...new Set(befores)].join(', ')}\` (one stream per request, vectors copied a value at a time, \`Array.from\` for JSON numbers), "after" the current code (pooled embedding streams, vectors by memcpy and written once, a loop for JSON numbers).\n`,
      table(['run', 'at', 'load (1 min)', 'p50 direct', 'p50 hop', 'added p50 ms', 'req/s direct', 'req/s hop', 'throughput ×', 'CPU ms/req direct', 'CPU ms/req hop'], runs.map(run => {
        const x = run.data as unknown as EmbedData
        return [tag(run).which, when(run), n1(run.machine.loadAvgStart), n2(x.sequentialMs.direct.p50), n2(x.sequentialMs.hop.p50), signed(x.addedP50Ms), n1(x.throughputPerSecond.direct), n1(x.throughputPerSecond.hop), n2(x.throughputRatio), n2(x.cpuMsPerRequest?.direct), n2(x.cpuMsPerRequest?.hop)]
      }))
    )
  }
  return out.join('\n')
}
