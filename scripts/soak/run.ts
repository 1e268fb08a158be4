// The soak benchmark (issue 25): `npm run soak -- [--minutes N] [--quick] …` (see options.ts or
// --help). Peers as CLI processes on 127.0.0.1 under a mixed, bounded workload with kills,
// restarts, pulls and a joiner; each peer's /metrics sampled on a fixed interval; writes
// bench/results/soak[.quick].json and re-renders BENCHMARKS.md.
import { execFileSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { mulberry32 } from '../../src/util/prng.js'
import { expectedTexts } from '../chaos/requests.js'
import { handoverCount } from '../bench/client.js'
import { beginPart, note, status } from '../bench/progress.js'
import { peerRuntime, REPO_ROOT } from '../bench/procs.js'
import { gitInfo, machineInfo, writeResult, type ResultFile, type Target } from '../bench/results.js'
import { createActions, type SoakEvent } from './actions.js'
import { MODEL, startSoakCluster, type SoakCluster } from './cluster.js'
import { HELP, parseSoakArgs, type SoakOptions } from './options.js'
import { issueSoak, MIX, pickKind, type SoakRecord } from './requests.js'
import { foldBounded, sampleOf, scrape, type BoundedMax, type Series } from './sampler.js'
import { plan } from './schedule.js'
import { classify, FLAT_SLACK, peerTrend, type PeerTrend } from './verdict.js'

const parsed = parseSoakArgs(process.argv.slice(2))
if ('help' in parsed) {
  process.stdout.write(HELP + '\n')
  process.exit(0)
}
if ('error' in parsed) {
  process.stderr.write(`${parsed.error}\n\n${HELP}\n`)
  process.exit(2)
}
const opts: SoakOptions = parsed

const MAX_TOKENS = [8, 16, 32, 48, 64]
/** A request of the soak never legitimately takes this long (answers are ≤ 64 tokens at 250 tok/s). */
const REQUEST_TIMEOUT_MS = 30_000
/** Paced so a request takes 0.1–0.7 s: long enough that a kill catches answers mid-stream. */
const UPSTREAM = { tokensPerSecond: 100, firstTokenMs: 20 }
const SCRAPE_TIMEOUT_MS = 5_000
/** Failed requests kept in the result file for post-mortems. */
const KEEP_FAILURES = 200
/** Peers that live through the whole run: the trend targets are theirs (serve-1 and the joiner restart). */
const LONG_LIVED = ['entry-a', 'entry-b', 'serve-2']
/** Heap after collection may grow this much per hour (issue 25). */
const HEAP_MB_PER_HOUR = 1
const RSS_GROWTH_PCT = 10

const loadStart = loadavg()
const t0 = performance.now()
const clock = (): number => performance.now() - t0
const startedAtIso = new Date().toISOString()

if (opts.build && peerRuntime() !== 'dist') {
  beginPart('build', 'dist/ is stale: the CLI would run src/ through tsx (slower, more memory)')
  try {
    execFileSync(process.execPath, [join(REPO_ROOT, 'scripts', 'build.mjs')], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
  } catch (err: any) {
    note(`build failed (${String(err?.message ?? err).split('\n')[0]}); peers run src/ through tsx`)
  }
}

const root = mkdtempSync(join(tmpdir(), 'harombe-soak-'))
if (opts.logDir != null) mkdirSync(opts.logDir, { recursive: true })
let cluster: SoakCluster | undefined
process.on('exit', () => { rmSync(root, { recursive: true, force: true }) })

beginPart('soak', `${opts.quick ? 'quick, ' : ''}${opts.durationS} s, ${opts.clients} clients, think ${opts.thinkMs} ms, sample every ${opts.sampleS} s, peers run ${peerRuntime()}`)
status('starting the upstream and the peers')
const expected = await expectedTexts(MAX_TOKENS)
cluster = await startSoakCluster({ root, upstream: UPSTREAM, ...(opts.logDir != null ? { logDir: opts.logDir } : {}) })
const c = cluster
note(`mesh up in ${Math.round(clock())} ms: ${c.peers.filter(p => p.proc != null).map(p => p.name).join(', ')}`)

// From here on every time (requests, events, kills, samples) is since the load started.
const loadFrom = clock()
const loadUntil = opts.durationS * 1000
const since = (): number => clock() - loadFrom
const events: SoakEvent[] = []
const actions = createActions(c, root, since, e => {
  events.push(e)
  note(`${e.action} ${e.peer}${e.detail != null ? ` (${e.detail})` : ''}`)
})

const sinceLoad = (): number => Math.round(since() / 100) / 10
const series: Series = {}
const bounded: BoundedMax = {}
let scrapeFailures = 0
const sampleAll = async (): Promise<void> => {
  const t = sinceLoad()
  await Promise.all(c.peers.map(async p => {
    const api = p.proc?.peer.api
    if (api == null) return
    try {
      const text = await scrape(api, SCRAPE_TIMEOUT_MS)
      ;(series[p.name] ??= []).push(sampleOf(text, t, p.lives))
      foldBounded(bounded, p.name, text)
    } catch {
      // A peer being killed or leaving right now; counted, not fatal.
      scrapeFailures++
    }
  }))
}

const records: SoakRecord[] = []
const entries = c.peers.filter(p => p.role === 'entry')
const clients = Array.from({ length: opts.clients }, async (_, i) => {
  const rand = mulberry32(opts.seed * 1_000 + i + 1)
  const entry = entries[i % entries.length]
  while (entry?.proc != null && since() < loadUntil) {
    const kind = pickKind(rand())
    const maxTokens = kind.startsWith('cancel-') ? 64 : MAX_TOKENS[Math.floor(rand() * MAX_TOKENS.length)] ?? 16
    const rec = await issueSoak({ kind, api: entry.proc.peer.api, entry: entry.name, maxTokens, model: MODEL, timeoutMs: REQUEST_TIMEOUT_MS, clock: since, expected: expected.get(maxTokens) ?? '' })
    records.push(rec)
    // A polite client waits a 429/503's Retry-After; every client pauses between requests.
    const pause = rec.retryAfterS != null ? rec.retryAfterS * 1000 : rand() * 2 * opts.thinkMs
    await new Promise(resolve => setTimeout(resolve, Math.min(pause, Math.max(0, loadUntil - since()))))
  }
})

const pending: Array<Promise<void>> = []
let pullVia = 0
const driver = (async () => {
  for (const step of plan(opts.durationS, opts.quick)) {
    const wait = step.at * 1000 - since()
    if (wait > 0) await new Promise(resolve => setTimeout(resolve, wait))
    if (step.action === 'join') pending.push(actions.join())
    else if (step.action === 'leave') pending.push(actions.leave())
    else if (step.action === 'kill') pending.push(actions.kill())
    else pending.push(actions.pull(entries[pullVia++ % entries.length]?.name ?? 'entry-a'))
  }
})()

await sampleAll()
const sampler = setInterval(() => {
  void sampleAll().then(() => {
    const failed = classify(records, actions.kills).failed
    const rss = c.peers.map(p => `${p.name} ${p.proc == null ? 'down' : series[p.name]?.at(-1)?.rssMb?.toFixed(0) ?? '–'}`).join(' · ')
    status(`${sinceLoad().toFixed(0)}/${opts.durationS} s · ${records.length} requests, ${failed} failed · RSS MB ${rss}`)
  })
}, opts.sampleS * 1000)

await Promise.all(clients)
await driver
await Promise.all(pending)
clearInterval(sampler)
await sampleAll()
const handedOver = await handoverCount(entries.flatMap(p => p.proc != null ? [p.proc.peer.api] : [])).catch(() => null)
status('stopping the peers')
await c.close()
const loadEnd = loadavg()

// ---- verdict ----
const totals = classify(records, actions.kills)
const failedPulls = actions.pulls.failed
const warmupS = opts.warmupS
const trends: Record<string, PeerTrend> = {}
for (const name of Object.keys(series)) {
  // serve-1 and the joiner restart: their trend is over their last life only.
  const samples = series[name] ?? []
  const lastLife = samples.at(-1)?.life
  trends[name] = peerTrend(LONG_LIVED.includes(name) ? samples : samples.filter(s => s.life === lastLife), warmupS)
}
const overBound = Object.entries(series).flatMap(([peer, samples]) => samples.flatMap(s => s.overBound.map(o => ({ peer, t: s.t, ...o }))))
const structures = Object.values(bounded).reduce((n, m) => n + Object.keys(m).length, 0)
const fmt = (v: number | null | undefined, d = 2): string => v == null ? 'no reading' : v.toFixed(d)
const targets: Target[] = [
  { what: 'failed requests, other than those killed on purpose (pulls included)', target: '0', measured: `${totals.failed + failedPulls} of ${totals.sent} requests and ${actions.pulls.ok + failedPulls} pulls`, met: totals.failed + failedPulls === 0 },
  { what: 'requests killed on purpose: handed over or failed cleanly', target: 'all', measured: `${totals.killedOnPurpose.handedOver} handed over, ${totals.killedOnPurpose.failedCleanly} clean errors, ${totals.killedOnPurpose.failedUnclean} unclean, of ${totals.killedOnPurpose.total}`, met: totals.killedOnPurpose.failedUnclean === 0 },
  { what: 'bounded structures within their bounds at every sample', target: 'size ≤ limit', measured: `${overBound.length} samples over a bound (${structures} structure readings)`, met: overBound.length === 0 },
  { what: 'peers that exited without being killed or stopped', target: '0', measured: c.crashes.length === 0 ? '0' : c.crashes.map(x => `${x.peer} (life ${x.life}, code ${x.code}, signal ${x.signal})`).join(', '), met: c.crashes.length === 0 }
]
for (const name of LONG_LIVED) {
  const tr = trends[name]
  if (tr == null) continue
  targets.push(
    { what: `${name}: heap after collection, growth after minute ${Math.round(warmupS / 60 * 10) / 10}`, target: `≤ ${HEAP_MB_PER_HOUR} MB/hour`, measured: `${fmt(tr.heapAfterGcMbPerHour, 3)} MB/hour (${tr.heapReadings} readings; second half ${fmt(tr.heapAfterGcMbPerHourLastHalf, 3)})`, met: tr.heapAfterGcMbPerHour != null && tr.heapReadings >= 3 && tr.heapAfterGcMbPerHour <= HEAP_MB_PER_HOUR },
    { what: `${name}: RSS from minute ${Math.round(warmupS / 60 * 10) / 10} to the end`, target: `≤ +${RSS_GROWTH_PCT} %`, measured: tr.rss == null ? 'no reading' : `${tr.rss.startMb} → ${tr.rss.endMb} MB (${tr.rss.growthPct >= 0 ? '+' : ''}${tr.rss.growthPct} %)`, met: tr.rss != null && tr.rss.growthPct <= RSS_GROWTH_PCT },
    { what: `${name}: open descriptors flat`, target: `end ≤ start + ${FLAT_SLACK.fds}`, measured: tr.fds == null ? 'no reading' : `${tr.fds.start} → ${tr.fds.end}`, met: tr.fds != null && tr.fds.end <= tr.fds.start + FLAT_SLACK.fds },
    { what: `${name}: mesh connections flat`, target: `end ≤ start + ${FLAT_SLACK.connections}`, measured: tr.connections == null ? 'no reading' : `${tr.connections.start} → ${tr.connections.end}`, met: tr.connections != null && tr.connections.end <= tr.connections.start + FLAT_SLACK.connections }
  )
}
/** The count targets (the first four): what the quick soak in npm test asserts; trends need the long run. */
const countsOk = targets.slice(0, 4).every(t => t.met)

const failures = records.filter(r => r.outcome !== 'completed' && r.outcome !== 'cancelled').slice(0, KEEP_FAILURES)
const byKind: Record<string, Record<string, number>> = {}
for (const r of records) {
  const k = (byKind[r.kind] ??= {})
  k[r.outcome] = (k[r.outcome] ?? 0) + 1
}
const git = gitInfo()
const result: ResultFile = {
  part: 'soak',
  title: 'Soak: memory, descriptors and connections of CLI peers under a mixed workload',
  machine: { ...machineInfo(loadStart[0] ?? 0), loadAvgEnd: Math.round((loadEnd[0] ?? 0) * 100) / 100 },
  run: {
    date: new Date().toISOString(),
    ...git,
    command: `npm run soak${process.argv.length > 2 ? ' -- ' + process.argv.slice(2).join(' ') : ''} (tsx scripts/soak/run.ts)`,
    mode: opts.quick ? 'quick' : 'full',
    durationSeconds: Math.round(clock() / 100) / 10
  },
  params: {
    durationS: opts.durationS,
    clients: opts.clients,
    thinkMs: opts.thinkMs,
    sampleS: opts.sampleS,
    warmupS,
    seed: opts.seed,
    requestTimeoutS: REQUEST_TIMEOUT_MS / 1000,
    peers: 'entry-a, entry-b: `start --backend none` (clients enter here; entry-a is everyone\'s bootstrap); serve-1: `--backend openai` (kill -9 and restart); serve-2: `--backend openai`, shares a 4 MiB GGUF file; joiner: `--backend openai`, joins and leaves (SIGTERM) every minute',
    upstream: `scripts/bench/synthetic-server.ts (its own process): model \`${MODEL}\`, ${UPSTREAM.firstTokenMs} ms to the first token, ${UPSTREAM.tokensPerSecond} tok/s; a tool call when tools are offered on the user's turn`,
    workload: `${opts.clients} closed-loop clients split over entry-a and entry-b, each request a seeded random kind of ${MIX.map(m => `${m.kind} ×${m.weight}`).join(', ')} (max_tokens ${MAX_TOKENS.join('/')}, cancels 64), then a pause of 0–${2 * opts.thinkMs} ms`,
    schedule: opts.quick ? 'joiner joins at 3 s and leaves at 24 s, a pull at 8 s, kill -9 of serve-1 at 12 s (restart 3 s later)' : 'every minute: joiner joins at :05, leaves at :35, a pull at :20 (entry peers in turn); every other minute kill -9 of serve-1 at :45, restarted 3 s later',
    cliRuntime: peerRuntime(),
    startedAt: startedAtIso,
    loadAvg1_5_15Start: loadStart.map(v => Math.round(v * 100) / 100),
    loadAvg1_5_15End: loadEnd.map(v => Math.round(v * 100) / 100)
  },
  data: {
    requests: { ...totals, byKind, handedOverByEntryPeers: handedOver },
    pulls: actions.pulls,
    events,
    trends,
    series,
    bounded,
    overBound,
    scrapeFailures,
    crashes: c.crashes,
    failures,
    // Every request that was running at a kill, whichever peer served it: the handover evidence.
    atKills: records.filter(r => actions.kills.some(k => k.t >= r.startedAt && k.t <= r.endedAt)).slice(0, KEEP_FAILURES)
  },
  targets,
  notes: [
    `The trend targets are for the peers that live through the whole run (${LONG_LIVED.join(', ')}); serve-1 (killed and restarted) and the joiner (rejoins every minute) are sampled and plotted per life, their trend is over their last life only.`,
    'Heap after collection = harombe_heap_used_after_gc_bytes, the V8 heap in use right after the last major (mark-sweep-compact) collection; one reading per new major collection. Its growth is the least-squares slope over the readings after the warm-up.',
    'Start and end levels of RSS, descriptors and connections are medians of the first and last three samples after the warm-up, so a sample taken during a pull or while the joiner is connected does not decide alone.',
    'A request is "killed on purpose" when a kill -9 fell while it ran and it was served by the killed peer (x-harombe-node), or no peer had answered yet, or it was a whole (non-streamed) answer (its header names the peer that finished it, after any handover); it must then be handed over (completed from the delivered text) or end with a clean error. handedOverByEntryPeers is the entry peers\' harombe_completion_handovers_total.',
    'The machine is shared (2 cores, other engineers\' work): load averages are in the params; latencies are not a target here.'
  ]
}
let file: string
if (opts.out != null) {
  file = resolve(opts.out)
  mkdirSync(dirname(file), { recursive: true })
  writeFileSync(file, JSON.stringify(result, null, 2) + '\n')
} else {
  file = writeResult(result)
}
if (opts.report && opts.out == null) {
  try {
    const { renderReport } = await import('../bench/report.js')
    renderReport()
  } catch (err: any) {
    note(`BENCHMARKS.md not re-rendered: ${String(err?.message ?? err)}`)
  }
}

const summary = {
  file,
  ok: countsOk,
  requests: totals,
  pulls: actions.pulls,
  handedOver,
  overBound,
  targets
}
if (opts.json) {
  process.stdout.write(JSON.stringify(summary, null, 2) + '\n')
} else {
  const lines = [
    `soak ${countsOk ? 'PASSED' : 'FAILED'} (counts): ${totals.sent} requests, ${totals.failed} failed, ${totals.killedOnPurpose.total} killed on purpose (${totals.killedOnPurpose.handedOver} handed over, ${totals.killedOnPurpose.failedCleanly} clean errors); pulls ${actions.pulls.ok} ok, ${actions.pulls.failed} failed`,
    ...targets.map(t => `  ${t.met ? 'met   ' : 'MISSED'} ${t.what}: ${t.measured} (target ${t.target})`),
    `  outcomes: ${JSON.stringify(totals.byOutcome)}`,
    `  → ${file}`
  ]
  process.stdout.write(lines.join('\n') + '\n')
}
process.exit(countsOk ? 0 : 1)
