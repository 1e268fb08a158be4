// 12. Change propagation (issue 24): a model appearing or going on one peer, seen by every other.
// N peer processes on 127.0.0.1 (`harombe-peer start`, spawned CLI, membership profile lan): one
// source with `--backend openai` in front of a tiny model list served here, the others routing-only,
// all joining through the first. Each change adds or removes a model on the list; the source's
// model watch notices it within its interval and announces. Measured per change and per peer:
// from the source's own view showing the change (its announcement made) to that peer's view
// showing it, both followed through /api/cluster/events.
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { allAliveTracker, watchCluster, type ClusterWatch } from './client.js'
import { sleep, type BenchContext, type Part, type PeerProc } from './context.js'
import { note, status } from './progress.js'
import { spawnCliPeer } from './procs.js'
import type { Target } from './results.js'
import { round, roundSummary, summarize } from './stats.js'

/** A mesh that has not converged by then is measured anyway, marked not converged. */
const CONVERGE_TIMEOUT_MS = 60_000
/** After convergence: start-up work dies down, as in the idle part. */
const SETTLE_MS = 3_000
/** A change not seen by a peer within this is recorded as missed (the model watch asks every 5 s, lan). */
const CHANGE_TIMEOUT_MS = 15_000
/** Between changes: the previous one's stragglers (retransmissions, acks) die down. */
const GAP_MS = 1_000
const BASE_MODEL = 'base-model'

/** An OpenAI-compatible `/v1/models` whose list the benchmark changes. */
async function modelList (): Promise<{ url: string, set: (models: string[]) => void, close: () => Promise<void> }> {
  let models = [BASE_MODEL]
  const server: Server = createServer((req, res) => {
    if (req.method === 'GET' && req.url === '/v1/models') {
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ object: 'list', data: models.map(id => ({ id, object: 'model', created: 0, owned_by: 'bench' })) }))
      return
    }
    res.writeHead(404).end()
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}/v1`,
    set: next => { models = next },
    close: async () => { await new Promise<void>(resolve => { server.closeAllConnections(); server.close(() => { resolve() }) }) }
  }
}

export interface ChangeRow {
  k: number
  /** What changed: a model appearing or going. */
  change: 'appeared' | 'went'
  model: string
  /** Per other peer: source view shows it → that peer's view shows it (ms); null: not within CHANGE_TIMEOUT_MS. */
  latency_ms: Array<number | null>
}

async function run (ctx: BenchContext, n: number, changes: number): Promise<{ rows: ChangeRow[], converged: boolean, convergeMs: number | null, started: number, startFailures: number }> {
  const procs: PeerProc[] = []
  const watches: ClusterWatch[] = []
  const list = await modelList()
  // With a peer that could not start, nobody lists N alive: the wait runs out and the changes are measured anyway.
  const tracker = allAliveTracker(n)
  try {
    status(`N=${n}: starting the source peer (backend openai → the bench's model list)`)
    const source = ctx.track(await spawnCliPeer({ name: 'change-0', dataDir: ctx.dataDir('change-0'), backend: 'openai', backendUrl: list.url }))
    procs.push(source)
    tracker.watch(0, source.peer.api)
    status(`N=${n}: starting ${n - 1} routing-only peers, all bootstrapping through the source`)
    // A peer that cannot start (a bootstrap timeout on an overloaded machine) is recorded, not fatal:
    // the changes are measured on the peers that did.
    const started = await Promise.allSettled(Array.from({ length: n - 1 }, async (_, i) => {
      const p = ctx.track(await spawnCliPeer({ name: `change-${i + 1}`, dataDir: ctx.dataDir(`change-${i + 1}`), backend: 'none', bootstrap: source.peer.mesh, timeoutMs: 90_000 }))
      procs.push(p)
      tracker.watch(procs.length - 1, p.peer.api)
    }))
    const startFailures = started.filter(x => x.status === 'rejected').length
    if (startFailures > 0) note(`${startFailures} of ${n - 1} peers did not start (measured on the ${procs.length} that did)`)
    const lastReady = Math.max(...procs.map(p => p.readyAt))
    while (tracker.complete.size < procs.length && performance.now() < lastReady + CONVERGE_TIMEOUT_MS) {
      status(`N=${n}: ${tracker.complete.size}/${procs.length} peers list all ${procs.length} alive`)
      await sleep(100)
    }
    const converged = tracker.complete.size >= procs.length
    const convergeMs = converged ? round(Math.max(0, Math.max(...tracker.complete.values()) - lastReady)) : null
    for (const w of tracker.watches) w.close()
    await sleep(SETTLE_MS)

    const sourceId = source.peer.peerId
    /** Per watched peer: when it first showed the source serving (or not serving) `model`. */
    let expect: { model: string, present: boolean } | undefined
    const seenAt = new Map<number, number>()
    procs.forEach((p, i) => {
      watches.push(watchCluster(p.peer.api, (members, at) => {
        if (expect == null || seenAt.has(i)) return
        const models = members.get(sourceId)?.models
        if (models != null && models.includes(expect.model) === expect.present) seenAt.set(i, at)
      }))
    })
    await sleep(500) // the snapshots arrive
    const rows: ChangeRow[] = []
    for (let k = 0; k < changes; k++) {
      const appeared = k % 2 === 0
      const model = `extra-${Math.floor(k / 2)}`
      seenAt.clear()
      expect = { model, present: appeared }
      list.set(appeared ? [BASE_MODEL, model] : [BASE_MODEL])
      const deadline = performance.now() + CHANGE_TIMEOUT_MS + 5_000
      while (seenAt.size < procs.length && performance.now() < deadline) {
        status(`N=${n}: change ${k + 1}/${changes} (${model} ${appeared ? 'appears' : 'goes'}): seen by ${seenAt.size}/${procs.length}`)
        await sleep(20)
      }
      const origin = seenAt.get(0)
      const latency = procs.slice(1).map((_, j) => {
        const at = seenAt.get(j + 1)
        return origin == null || at == null || at - origin > CHANGE_TIMEOUT_MS ? null : round(Math.max(0, at - origin), 2)
      })
      expect = undefined
      rows.push({ k, change: appeared ? 'appeared' : 'went', model, latency_ms: latency })
      const seen = latency.filter((v): v is number => v != null)
      note(`change ${k + 1} (${model} ${appeared ? 'appeared' : 'went'}): seen by ${seen.length}/${n - 1} others; p50 ${round(summarize(seen).p50, 1)} ms, max ${round(summarize(seen).max, 1)} ms`)
      await sleep(GAP_MS)
    }
    return { rows, converged, convergeMs, started: procs.length, startFailures }
  } finally {
    for (const w of [...watches, ...tracker.watches]) w.close()
    status(`N=${n}: stopping ${procs.length} peers`)
    await Promise.all(procs.map(async p => await p.stop(6_000)))
    await list.close()
  }
}

/** Issue 24's target, judged on a run's rows (the report applies the same to the before run). */
export function changeTargets (n: number, all: Array<number | null>): Target[] {
  const seen = all.filter((v): v is number => v != null)
  const missed = all.length - seen.length
  const p99 = summarize(seen).p99
  return [{
    what: `a model change seen by every peer at N = ${n} (p99 over changes × peers)`,
    target: '≤ 300 ms',
    measured: `${round(p99, 1)} ms (p50 ${round(summarize(seen).p50, 1)}, ${seen.length} samples${missed > 0 ? `, ${missed} not seen within ${CHANGE_TIMEOUT_MS / 1000} s` : ''})`,
    met: missed === 0 && p99 <= 300
  }]
}

export const changePart: Part = {
  name: 'change',
  title: 'Change propagation: a model appearing or going on one peer, seen by every other',
  async run (ctx) {
    const n = ctx.quick ? 5 : 20
    const changes = ctx.quick ? 4 : 10
    const result = await run(ctx, n, changes)
    const all = result.rows.flatMap(r => r.latency_ms)
    const seen = all.filter((v): v is number => v != null)
    return {
      title: this.title,
      params: {
        n,
        changes,
        changeTimeoutMs: CHANGE_TIMEOUT_MS,
        peer: 'harombe-peer start --api-port 0 --listen /ip4/127.0.0.1/tcp/0 --no-mdns (membership profile: lan, the default); the source with --backend openai --backend-url <the bench\'s /v1/models>, the others --backend none',
        topology: 'the source starts alone; the others start together, each with --bootstrap <source>'
      },
      data: {
        n,
        converged: result.converged,
        converge_ms: result.convergeMs,
        peers_started: result.started,
        start_failures: result.startFailures,
        latency_ms: roundSummary(summarize(seen), 2),
        not_seen: all.length - seen.length,
        rows: result.rows
      },
      targets: changeTargets(n, all),
      notes: [
        'A change\'s time starts when the source\'s own view shows it (its new announcement made and applied), so the model watch\'s polling interval (5 s) is not part of it; it ends when each other peer\'s view shows it. Both are arrival times of /api/cluster/events at the benchmark process.',
        'Changes alternate: a model appears, then goes again, so both kinds are in the distribution.'
      ]
    }
  }
}
