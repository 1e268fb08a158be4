// 11. HTTP fuzz (issue 17): 10,000 random and mutated requests (1,000 in the quick run) against
// every route of one peer process (createPeer, the synthetic backend, a bearer token), one after
// another over a keep-alive connection, as `npm test` runs a few hundred. Cases, the contract they
// are judged by and the runner are scripts/http-fuzz/. Counted: statuses seen, hangs (no answer
// within the bound), dropped connections, crashes (the process exited), contract violations
// (undocumented status or wrong format), normal completions that failed between cases, and the
// peer's RSS before and after.
import { fileURLToPath } from 'node:url'
import { runHttpFuzz, DEFAULT_BOUNDS, type FuzzReport } from '../http-fuzz/run.js'
import type { BenchContext, Part } from './context.js'
import { note, status } from './progress.js'
import { rssMb, spawnBenchPeer } from './procs.js'
import type { Target } from './results.js'

const CASES = 10_000
const CASES_QUICK = 1_000
/** A normal completion every this many cases, and after the last. */
const HEALTH_EVERY = 100
const TOKEN = 'bench-fuzz-token'
/** Fastify's default, which peers keep. */
const BODY_LIMIT = 4 * 1024 * 1024
/**
 * The peer's RSS may grow this much over the run: heaps settle at their working size within the
 * first thousand cases (4 MiB bodies, 8,192-token answers); a per-request leak of even 10 KB
 * would pass it within the run.
 */
const MAX_RSS_GROWTH_MB = 64

export function fuzzTargets (report: FuzzReport, cases: number): Target[] {
  const growth = report.rssMb.after - report.rssMb.before
  return [
    { what: 'cases answered', target: `${cases.toLocaleString('en-US')}`, measured: `${report.cases.toLocaleString('en-US')}`, met: report.cases === cases && report.hangs + report.dropped === 0 },
    { what: 'hangs (no answer within the bound) and dropped connections', target: '0', measured: `${report.hangs} hangs, ${report.dropped} dropped`, met: report.hangs + report.dropped === 0 },
    { what: 'crashes (the peer process exited)', target: '0', measured: String(report.crashes), met: report.crashes === 0 },
    { what: 'answers outside the documented statuses or formats', target: '0', measured: String(report.violations), met: report.violations === 0 },
    { what: 'normal completions between cases', target: 'all 200', measured: `${report.health.ok} ok, ${report.health.failed} failed`, met: report.health.failed === 0 },
    { what: 'peer RSS growth over the run', target: `≤ ${MAX_RSS_GROWTH_MB} MB`, measured: `${growth.toFixed(1)} MB (${report.rssMb.before.toFixed(1)} → ${report.rssMb.after.toFixed(1)}, max ${report.rssMb.max.toFixed(1)})`, met: growth <= MAX_RSS_GROWTH_MB }
  ]
}

/** Settling time after SIGUSR2 before /metrics is read: a collection of a ~30 MB heap takes a few ms. */
const GC_SETTLE_MS = 100

/** The peer's V8 heap in use right after a full collection (nodejs_heap_size_used_bytes), MB. */
async function liveHeapMb (pid: number, api: string): Promise<number> {
  process.kill(pid, 'SIGUSR2')
  await new Promise(resolve => setTimeout(resolve, GC_SETTLE_MS))
  const text = await (await fetch(`${api}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` }, signal: AbortSignal.timeout(5_000) })).text()
  return Number(/^nodejs_heap_size_used_bytes (\S+)$/m.exec(text)?.[1] ?? NaN) / 2 ** 20
}

export const fuzzPart: Part = {
  name: 'fuzz',
  title: 'HTTP fuzz: random and mutated requests against every route of a running peer',
  async run (ctx: BenchContext) {
    const cases = ctx.quick ? CASES_QUICK : CASES
    status('starting the peer (createPeer, synthetic backend, bearer token)')
    // --expose-gc: SIGUSR2 makes the peer collect garbage before its heap is read (peer-process.ts).
    const peer = ctx.track(await spawnBenchPeer({ name: 'fuzz', dataDir: ctx.dataDir('fuzz'), synthetic: {}, token: TOKEN }, ['--expose-gc']))
    let exited = false
    void peer.exited.then(() => { exited = true })
    try {
      const report = await runHttpFuzz({
        api: peer.peer.api,
        token: TOKEN,
        model: 'synthetic',
        bodyLimit: BODY_LIMIT,
        numRuns: cases,
        healthEvery: HEALTH_EVERY,
        rssMb: () => rssMb(peer.pid)?.rss ?? NaN,
        heapMb: async () => await liveHeapMb(peer.pid, peer.peer.api),
        alive: () => !exited,
        stopOnProblem: false,
        onProgress: (done, r) => { if (done % 250 === 0) status(`${done}/${cases} cases; ${r.hangs} hangs, ${r.dropped} dropped, ${r.violations} violations`) }
      })
      note(`${report.cases} cases in ${(report.durationMs / 1000).toFixed(1)} s; statuses ${JSON.stringify(report.statuses)}; ${report.hangs} hangs, ${report.dropped} dropped, ${report.crashes} crashes, ${report.violations} violations; RSS ${report.rssMb.before.toFixed(1)} → ${report.rssMb.after.toFixed(1)} MB`)
      for (const p of report.problems) note(`problem: ${p}`)
      return {
        title: this.title,
        params: {
          cases,
          seed: report.seed,
          healthEvery: HEALTH_EVERY,
          boundsMs: DEFAULT_BOUNDS,
          bodyLimitBytes: BODY_LIMIT,
          peer: 'one process: createPeer with the synthetic backend (zero cost), --token, defaults otherwise (max tokens cap 8,192, request timeout 10 min), on 127.0.0.1',
          replay: `the seed replays the run: runHttpFuzz({ seed: ${report.seed}, … }) in ${fileURLToPath(new URL('../http-fuzz/run.ts', import.meta.url)).replace(/^.*\/scripts\//, 'scripts/')}`
        },
        data: report,
        targets: fuzzTargets(report, cases),
        notes: [
          `Cases are sent one after another over one keep-alive connection, as a client library does. Bound per case: status line within ${DEFAULT_BOUNDS.headersMs / 1000} s, whole answer within ${DEFAULT_BOUNDS.totalMs / 1000} s (the cluster event stream, which never ends, is cut after its first event). A normal completion (POST /v1/chat/completions) is sent every ${HEALTH_EVERY} cases and after the last.`,
          'Documented statuses (scripts/http-fuzz/contract.ts): completion endpoints 200, 400, 404, 429, 502, 503, 504; other routes 200 (and /readyz 503, /api/requests 400); any route 401 (token), 404 (no route or method), 413 (body over 4 MiB); a broken %-escape in the path 400 — all in the format of the API the path belongs to. Requests Node\'s HTTP parser refuses reach no route: 400 (unknown method) or 431 (request line and headers over 16 KiB), in fastify\'s format {"error", "message", "statusCode"}.',
          'RSS is the peer process\'s resident set (/proc/<pid>/status) before the first case, at every normal completion and after the last one. The live heap is V8\'s heap in use (nodejs_heap_size_used_bytes from the peer\'s /metrics) right after a full collection, which the peer (started with --expose-gc) runs on SIGUSR2: RSS also holds freed memory the allocator keeps, the live heap does not.'
        ]
      }
    } finally {
      await peer.stop(6_000)
    }
  }
}
