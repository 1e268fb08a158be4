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
      data: { ...(dist != null ? { dist } : {}), ...(tsx != null ? { tsx } : {}) },
      targets: [
        { what: `idle RSS per peer process without a model (CLI via ${mainRuntime})`, target: '≤ 70 MB', measured: `median ${rss.p50} MB (max ${rss.max} MB)`, met: rss.p50 <= 70 },
        { what: `cold start to ready line (CLI via ${mainRuntime})`, target: '≤ 1 s', measured: `median ${Math.round(start.p50)} ms (p90 ${Math.round(start.p90)} ms)`, met: start.p50 <= 1_000 }
      ],
      notes: [
        'Start time is from spawn until the ready line reached the benchmark\'s pipe: Node start-up, module loading, key generation, libp2p and HTTP start.',
        'Each start uses a fresh data dir, so it also generates the peer identity key (the slowest case).',
        `The bin runs dist/ when it is fresher than src/, else src/ through tsx; the runtime was checked before every start${tsxCount > 0 ? `, and ${tsxCount} start(s) were forced through tsx (HAROMBE_FROM_SOURCE=1) for reference` : ''}.`
      ]
    }
  }
}
