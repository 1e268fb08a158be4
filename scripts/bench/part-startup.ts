// 6. Memory and start-up: `harombe-peer start --backend none` alone (fresh data dir each time, so
// a new identity key is generated too): spawn → ready line, then idle RSS. Starts run one after
// another (earlier peers stay up, idle and unconnected) so no start competes with another.
import { sleep, type Part, type PeerProc } from './context.js'
import { note, status } from './progress.js'
import { peerRuntime, rssMb, spawnCliPeer } from './procs.js'
import { round, roundSummary, summarize } from './stats.js'

/** RSS is read after this much idle time: start-up garbage collected, timers settled (quick: 2 s). */
const IDLE_MS = 3_000
const IDLE_MS_QUICK = 2_000

interface Sample {
  /** What the bin ran for this start: dist/ when fresh, else src/ through tsx. */
  runtime: 'dist' | 'tsx'
  startMs: number
  proc: PeerProc
}

export const startupPart: Part = {
  name: 'startup',
  title: 'Memory and start-up (routing-only peer, no model)',
  async run (ctx) {
    const count = ctx.quick ? 3 : 8
    const tsxCount = ctx.quick ? 0 : 2
    const samples: Sample[] = []
    for (let i = 0; i < count + tsxCount; i++) {
      const forceTsx = i >= count
      // Checked per start: someone editing src/ during the run makes the bin fall back to tsx.
      const runtime = forceTsx ? 'tsx' : peerRuntime()
      status(`start ${i + 1}/${count + tsxCount} (${runtime}${forceTsx ? ', HAROMBE_FROM_SOURCE=1 for reference' : ''})`)
      const proc = ctx.track(await spawnCliPeer({
        name: `start-${i}`,
        dataDir: ctx.dataDir(`start-${i}`),
        backend: 'none',
        ...(forceTsx ? { env: { HAROMBE_FROM_SOURCE: '1' } } : {})
      }))
      samples.push({ runtime, startMs: proc.readyAt - proc.spawnedAt, proc })
    }
    const detection = await measureDetection(ctx, ctx.quick ? 2 : 6)
    const idleMs = ctx.quick ? IDLE_MS_QUICK : IDLE_MS
    status(`idle ${idleMs / 1000} s, then reading RSS`)
    await sleep(idleMs)
    const measured = samples.map(s => ({ ...s, rss: rssMb(s.proc.pid) }))
    await Promise.all(samples.map(async s => await s.proc.stop()))

    const group = (runtime: 'dist' | 'tsx'): Record<string, unknown> | undefined => {
      const g = measured.filter(s => s.runtime === runtime)
      if (g.length === 0) return undefined
      return {
        starts: g.length,
        startToReadyMs: roundSummary(summarize(g.map(s => s.startMs)), 1),
        startSamplesMs: g.map(s => round(s.startMs, 1)),
        idleRssMb: roundSummary(summarize(g.flatMap(s => s.rss != null ? [s.rss.rss] : [])), 1),
        peakRssMb: roundSummary(summarize(g.flatMap(s => s.rss != null ? [s.rss.peak] : [])), 1)
      }
    }
    const dist = group('dist') as any
    const tsx = group('tsx') as any
    // The targets are judged on what a user normally runs: dist/ (tsx only if no dist sample exists).
    const main = dist ?? tsx
    const mainRuntime = dist != null ? 'dist' : 'tsx'
    const start = main.startToReadyMs
    const rss = main.idleRssMb
    note(`start → ready: median ${start.p50} ms; idle RSS median ${rss.p50} MB (${mainRuntime})`)
    return {
      title: this.title,
      params: { starts: count, tsxReferenceStarts: tsxCount, idleMs, command: 'node bin/harombe-peer.js start --backend none --api-port 0 --listen /ip4/127.0.0.1/tcp/0 --no-mdns --data-dir <fresh dir> --log-level warn' },
      data: { ...(dist != null ? { dist } : {}), ...(tsx != null ? { tsx } : {}), detection },
      targets: [
        { what: `idle RSS per peer process without a model (CLI via ${mainRuntime})`, target: '≤ 70 MB', measured: `median ${rss.p50} MB (max ${rss.max} MB)`, met: rss.p50 <= 70 },
        { what: `cold start to ready line (CLI via ${mainRuntime})`, target: '≤ 1 s', measured: `median ${Math.round(start.p50)} ms (p90 ${Math.round(start.p90)} ms)`, met: start.p50 <= 1_000 },
        { what: 'time detection adds to a start when no LLM server answers (the probes as the start timed them; beside: start to ready without → with detection, medians)', target: '≤ 300 ms', measured: `median ${detection.askedMs.p50} ms, max ${detection.askedMs.max} ms (ready ${detection.withoutMs.p50} → ${detection.withMs.p50} ms)`, met: detection.askedMs.p50 <= 300 }
      ],
      notes: [
        'Start time is from spawn until the ready line reached the benchmark\'s pipe: Node start-up, module loading, key generation, libp2p and HTTP start.',
        'Each start uses a fresh data dir, so it also generates the peer identity key (the slowest case).',
        'Detection: starts without --backend (probing Ollama, llama-server and LM Studio on their default ports, none answering here, then the embedded tiny model) alternate with starts with --backend embedded (the same tiny model, no probing); the start logs how long asking the servers took (module loading included); the start-to-ready medians are beside it, and their difference is dominated by the tiny model\'s load time varying between starts.',
        `The bin runs dist/ when it is fresher than src/, else src/ through tsx; the runtime was checked before every start${tsxCount > 0 ? `, and ${tsxCount} start(s) were forced through tsx (HAROMBE_FROM_SOURCE=1) for reference` : ''}.`
      ]
    }
  }
}

/**
 * What detection costs a start when nothing answers: the same peer (embedded tiny model, which is
 * what a start falls back to) with and without `--backend embedded`, alternating so drift on a
 * shared machine hits both alike (each peer stops before the next starts). The tiny model's load
 * varies by hundreds of ms between starts, so the start itself also reports how long asking the
 * servers took (its log line "found: … (asked in N ms)"), which is the cost without that noise.
 */
async function measureDetection (ctx: Parameters<Part['run']>[0], pairs: number): Promise<Record<string, unknown> & { addedMs: number, askedMs: ReturnType<typeof roundSummary>, withoutMs: ReturnType<typeof roundSummary>, withMs: ReturnType<typeof roundSummary> }> {
  const without: number[] = []
  const detecting: number[] = []
  const asked: number[] = []
  for (let i = 0; i < pairs; i++) {
    // Alternate which goes first, so a slow spell does not always land on the same side.
    for (const detect of i % 2 === 0 ? [false, true] : [true, false]) {
      status(`detection pair ${i + 1}/${pairs}: ${detect ? 'no --backend (detect)' : '--backend embedded'}`)
      const proc = ctx.track(await spawnCliPeer({ name: `detect-${i}-${String(detect)}`, dataDir: ctx.dataDir(`detect-${i}-${String(detect)}`), ...(detect ? { logLevel: 'info' } : { backend: 'embedded' as const }), timeoutMs: 60_000 }))
      ;(detect ? detecting : without).push(proc.readyAt - proc.spawnedAt)
      const m = detect ? /found: .* \(asked in (\d+) ms\)/.exec(proc.stderr()) : null
      if (m != null) asked.push(Number(m[1]))
      await proc.stop()
    }
  }
  const withoutMs = roundSummary(summarize(without), 1)
  const withMs = roundSummary(summarize(detecting), 1)
  const paired = without.map((w, i) => (detecting[i] ?? w) - w)
  return { pairs, withoutMs, withMs, pairedDifferenceMs: roundSummary(summarize(paired), 1), askedMs: roundSummary(summarize(asked), 1), addedMs: round(withMs.p50 - withoutMs.p50, 1) }
}
