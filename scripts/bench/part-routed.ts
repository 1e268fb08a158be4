// 3. Routed throughput: completed short requests per second with 1, 8 and 64 closed-loop
// clients, through one entry peer to two remote serving peers; side by side with a plain Node
// HTTP reverse proxy in front of two synthetic servers, and the synthetic server alone (the
// client's own ceiling on this machine).
import { chat, runLoad, type ChatOutcome, type LoadResult } from './client.js'
import { hasAlive, MODEL_INPROC, ratio, waitForView, type Part } from './context.js'
import { note, status } from './progress.js'
import { cpuMs, spawnBenchPeer, spawnScript } from './procs.js'
import { round, roundSummary, summarize } from './stats.js'

const SHORT_TOKENS = 16
const CONCURRENCY = [1, 8, 64]
/** A bound on requests per measurement, whatever the speed: runs stay bounded in count too. */
const MAX_REQUESTS = 50_000

export const routedPart: Part = {
  name: 'routed',
  title: 'Routed throughput (short non-streamed requests, closed loop)',
  async run (ctx) {
    const mesh = await ctx.syntheticMesh()
    status('starting a second serving peer, a second synthetic server and the reverse proxy')
    const [serveC, direct2] = await Promise.all([
      spawnBenchPeer({ name: 'serve-c', dataDir: ctx.dataDir('serve-c'), synthetic: {}, bootstrap: mesh.serveA.peer.mesh }).then(p => ctx.track(p)),
      spawnScript('synthetic server 2', 'synthetic-server.ts', []).then(p => ctx.track(p))
    ])
    const origin = (url: string): string => new URL(url).origin
    mesh.members.push(serveC)
    const proxy = ctx.track(await spawnScript('reverse proxy', 'reverse-proxy.ts', [origin(mesh.direct.url), origin(direct2.url)]))
    await waitForView(mesh.entry.peer.api, v => hasAlive(v, 'serve-a', MODEL_INPROC) && hasAlive(v, serveC.peer.name, MODEL_INPROC), 20_000)

    // CPU per request of each process on the path (from /proc), so the cost is located, not only totalled.
    const targets = [
      { key: 'mesh', label: 'client → entry peer → mesh → 2 serving peers (in-process synthetic)', endpoint: mesh.endpoints.entry, procs: { entry: mesh.entry.pid, serving: [mesh.serveA.pid, serveC.pid] } },
      { key: 'proxy', label: 'client → Node reverse proxy → 2 synthetic servers', endpoint: `${proxy.url}/v1/chat/completions`, procs: { entry: proxy.pid, serving: [mesh.direct.pid, direct2.pid] } },
      { key: 'direct', label: 'client → 1 synthetic server (client ceiling)', endpoint: mesh.endpoints.direct, procs: { serving: [mesh.direct.pid] } }
    ]
    const durationMs = ctx.quick ? 500 : 4_000
    const warmupMs = ctx.quick ? 150 : 500
    // Connections to every target exist before the first measurement.
    for (const t of targets) await chat(t.endpoint, { stream: false, maxTokens: SHORT_TOKENS, model: MODEL_INPROC })

    const rows: Array<Record<string, unknown>> = []
    const rate = new Map<string, number>()
    for (const concurrency of CONCURRENCY) {
      for (const t of targets) {
        status(`${concurrency} client(s) → ${t.key}`)
        const cpuOf = (): { entry: number, serving: number, client: number } => {
          const own = process.cpuUsage()
          return {
            entry: t.procs.entry != null ? cpuMs(t.procs.entry) : NaN,
            serving: t.procs.serving.reduce((sum, pid) => sum + cpuMs(pid), 0),
            client: (own.user + own.system) / 1000
          }
        }
        const issue = async (): Promise<ChatOutcome> => await chat(t.endpoint, { stream: false, maxTokens: SHORT_TOKENS, model: MODEL_INPROC })
        await runLoad({ concurrency, durationMs: warmupMs, maxRequests: MAX_REQUESTS, issue })
        const cpuBefore = cpuOf()
        const result: LoadResult = await runLoad({
          concurrency,
          durationMs,
          maxRequests: MAX_REQUESTS,
          issue,
          onProgress: done => { status(`${concurrency} client(s) → ${t.key}: ${done} requests`) }
        })
        const cpuAfter = cpuOf()
        // CPU ms per completed request; /proc counts in 10 ms ticks, so short runs are coarse.
        const perRequest = (key: 'entry' | 'serving' | 'client'): number => round((cpuAfter[key] - cpuBefore[key]) / Math.max(1, result.completed), 3)
        const ok = result.outcomes.filter(o => o.ok)
        const servedBy: Record<string, number> = {}
        for (const o of ok) if (o.node != null) servedBy[o.node] = (servedBy[o.node] ?? 0) + 1
        rate.set(`${t.key}@${concurrency}`, result.perSecond)
        rows.push({
          target: t.key,
          label: t.label,
          concurrency,
          requests: result.outcomes.length,
          completed: result.completed,
          failed: result.failed,
          firstError: result.outcomes.find(o => !o.ok)?.error,
          seconds: round(result.elapsedMs / 1000),
          perSecond: round(result.perSecond, 1),
          latencyMs: roundSummary(summarize(ok.map(o => o.totalMs))),
          cpuMsPerRequest: { ...(t.procs.entry != null ? { entry: perRequest('entry') } : {}), serving: perRequest('serving'), client: perRequest('client') },
          ...(Object.keys(servedBy).length > 0 ? { servedBy } : {})
        })
        note(`${concurrency} client(s) → ${t.key}: ${Math.round(result.perSecond)} req/s, ${result.failed} failed`)
      }
    }
    const ratios = Object.fromEntries(CONCURRENCY.map(c => [`c=${c}`, {
      'mesh / proxy': ratio(rate.get(`mesh@${c}`) ?? NaN, rate.get(`proxy@${c}`) ?? NaN),
      'mesh / direct': ratio(rate.get(`mesh@${c}`) ?? NaN, rate.get(`direct@${c}`) ?? NaN),
      'proxy / direct': ratio(rate.get(`proxy@${c}`) ?? NaN, rate.get(`direct@${c}`) ?? NaN)
    }]))
    const best = Math.max(...CONCURRENCY.map(c => rate.get(`mesh@${c}`) ?? 0))
    const at64 = rate.get('mesh@64') ?? 0
    return {
      title: this.title,
      params: { concurrency: CONCURRENCY, durationMs, warmupMs, maxRequestsPerRun: MAX_REQUESTS, maxTokens: SHORT_TOKENS, stream: false, backend: 'synthetic, zero cost' },
      data: { rows, ratios },
      targets: [
        { what: 'completed short requests/s through one peer to remote peers (64 clients)', target: '≥ 3,000 req/s on 2 cores', measured: `${Math.round(at64).toLocaleString('en-US')} req/s (best over 1/8/64 clients: ${Math.round(best).toLocaleString('en-US')})`, met: at64 >= 3_000 }
      ],
      notes: [
        'Everything (client, entry peer, serving peers, proxy, servers) shares the same 2 cores, so each figure includes the client and the upstreams; the direct row is the ceiling the client and one server reach without anything in between.',
        'CPU per request is read from /proc (user + system time of each process over the measured window, 10 ms resolution) and divided by the completed requests: "entry" is the entry peer or the proxy, "serving" the two serving peers or the two synthetic servers together, "client" the benchmark process.'
      ]
    }
  }
}
