// Chaos test (issue 7): five peers on 127.0.0.1, continuous mixed streaming / non-streaming load
// through two client peers, while a seeded schedule kills -9, restarts and SIGSTOPs the three
// serving peers. Counts, per request, what the client saw: completed, clean error, hung (no
// answer within the request timeout), truncated (stream ended without a final chunk or an
// error). Writes bench/results/chaos.json and re-renders BENCHMARKS.md.
//
//   npm run chaos -- [--duration 60] [--seed 1] [--clients 8] [--timeout 15] [--json] [--log-dir DIR] [--no-report]
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { mulberry32 } from '../src/util/prng.js'
import { cpuMs, peerRuntime } from './bench/procs.js'
import { handoverCount } from './bench/client.js'
import { gitInfo, machineInfo, writeResult, type ResultFile } from './bench/results.js'
import { renderReport } from './bench/report.js'
import { startChaosCluster, type ChaosCluster } from './chaos/cluster.js'
import { expectedTexts, issue, KINDS, type RequestRecord } from './chaos/requests.js'
import { runSchedule, type ChaosEvent } from './chaos/schedule.js'
import { line, summarizeRun } from './chaos/summary.js'
import { recordViews, routableTimeline, summarizeViews } from './chaos/views.js'
import { roundSummary, summarize } from './bench/stats.js'

const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '60' },
    seed: { type: 'string', default: '1' },
    clients: { type: 'string', default: '8' },
    timeout: { type: 'string', default: '15' },
    json: { type: 'boolean', default: false },
    'log-dir': { type: 'string' },
    'no-report': { type: 'boolean', default: false }
  }
})
const positive = (name: string, value: string | undefined, max: number): number => {
  const n = Number(value)
  if (!Number.isInteger(n) || n < 1 || n > max) {
    process.stderr.write(`--${name} must be an integer from 1 to ${max}, got ${value}\n`)
    process.exit(2)
  }
  return n
}
// Bounded on purpose: the test shares a 2-core machine and must never run away.
const durationMs = positive('duration', values.duration, 600) * 1000
const seed = positive('seed', values.seed, 2 ** 31)
const concurrency = positive('clients', values.clients, 64)
const timeoutMs = positive('timeout', values.timeout, 120) * 1000

/** The model only the serving peers have: the client peers must route every request over the mesh. */
const MODEL = 'chaos-synthetic'
/**
 * A small paced model: 20 ms to the first token, 250 tok/s, at most 4 at once per peer (then the
 * peer queues). A request is 50–280 ms, so a kill or a freeze nearly always catches some mid-stream.
 */
const SYNTHETIC = { tokensPerSecond: 250, firstTokenMs: 20, capacity: 4 }
const MAX_TOKENS = [8, 16, 32, 48, 64]
const CLIENT_PEERS = ['a', 'b']
const SERVING_PEERS = ['c', 'd', 'e']
/** Load runs this long before the first chaos action, and calm returns this long before the end. */
const CALM_START_MS = 2_000
const CALM_END_MS = 2_000
const PROGRESS_EVERY_MS = 5_000
/** After the last action, how long the views may take to list every serving peer alive again. */
const HEAL_TIMEOUT_MS = 20_000

const loadStart = loadavg()
const t0 = performance.now()
const startedAtIso = new Date().toISOString()
const clock = (): number => performance.now() - t0
const stamp = (): string => `${(clock() / 1000).toFixed(1).padStart(6)} s`
const say = (text: string): void => { process.stderr.write(`${stamp()}  ${text}\n`) }

const root = mkdtempSync(join(tmpdir(), 'harombe-chaos-'))
const logDir = values['log-dir']
if (logDir != null) mkdirSync(logDir, { recursive: true })
let cluster: ChaosCluster | undefined
let finished = false
// Frozen peers cannot handle SIGTERM: resume them first on any way out (procs.ts SIGKILLs the rest).
const resumeAll = (): void => {
  for (const p of cluster?.serving ?? []) {
    try { process.kill(p.proc.pid, 'SIGCONT') } catch {}
  }
}
process.on('exit', () => {
  resumeAll()
  if (!finished) rmSync(root, { recursive: true, force: true })
})

say(`chaos: ${durationMs / 1000} s, seed ${seed}, ${concurrency} clients, request timeout ${timeoutMs / 1000} s, peers run ${peerRuntime()}`)
const expected = await expectedTexts(MAX_TOKENS)
say(`starting client peers ${CLIENT_PEERS.join(', ')} and serving peers ${SERVING_PEERS.join(', ')}`)
const startedCluster = clock()
cluster = await startChaosCluster({ root, clientNames: CLIENT_PEERS, servingNames: SERVING_PEERS, model: MODEL, synthetic: SYNTHETIC, clock, logDir })
const c = cluster
say(`cluster converged in ${Math.round(clock() - startedCluster)} ms; load and chaos for ${durationMs / 1000} s`)

const views = recordViews(c.clients.map(p => ({ name: p.peer.name, api: p.peer.api })), SERVING_PEERS, clock)
const records: RequestRecord[] = []
const events: ChaosEvent[] = []
const loadFrom = clock()
const loadUntil = loadFrom + durationMs
// Every client draws from its own stream derived from the seed, so the mix is the same per seed.
const clients = Array.from({ length: concurrency }, async (_, i) => {
  const rand = mulberry32(seed * 1_000 + i + 1)
  const entry = c.clients[i % c.clients.length]
  if (entry == null) return
  while (clock() < loadUntil) {
    const kind = KINDS[Math.floor(rand() * KINDS.length)] ?? 'openai-stream'
    const maxTokens = MAX_TOKENS[Math.floor(rand() * MAX_TOKENS.length)] ?? 16
    const rec = await issue({ kind, api: entry.peer.api, entry: entry.peer.name, maxTokens, model: MODEL, timeoutMs, clock, expected: expected.get(maxTokens) ?? '' })
    records.push(rec)
    // As the OpenAI SDK and any polite client do: an instant 503 must not turn into a request storm.
    if (rec.retryAfterS != null) await sleep(Math.min(rec.retryAfterS * 1000, Math.max(0, loadUntil - clock())))
  }
})
const schedule = runSchedule({
  seed,
  cluster: c,
  clock,
  from: loadFrom + CALM_START_MS,
  until: loadUntil - CALM_END_MS,
  onEvent: e => {
    events.push(e)
    say(`${e.action} ${e.peer}${e.detail != null ? ` (${e.detail})` : ''}`)
  }
})
const progress = setInterval(() => {
  const states = c.serving.map(p => `${p.name}:${p.state}`).join(' ')
  say(`${line(summarizeRun(records, events, c.liveTimeline).totals)} | ${states}`)
}, PROGRESS_EVERY_MS)
await Promise.all(clients)
const loadEnded = clock()
await schedule.done
clearInterval(progress)
// Healing is part of the test: after the last action every client peer must list every serving peer alive again.
const healFrom = clock()
while (!views.allAlive() && clock() - healFrom < HEAL_TIMEOUT_MS) await sleep(50)
const healedAfterMs = views.allAlive() ? Math.round(clock() - healFrom) : null
say(healedAfterMs != null ? `every client peer lists every serving peer alive ${healedAfterMs} ms after the last action ended` : `not healed: some serving peer is still not alive in a client peer's view after ${HEAL_TIMEOUT_MS / 1000} s`)
views.close()
const viewSummary = summarizeViews(views.points, c.stateLog, events, CLIENT_PEERS, SERVING_PEERS, loadFrom, healFrom)
const timingOf = (action: string, key: 'notAliveEverywhereMs' | 'aliveEverywhereMs'): Record<string, unknown> => {
  const list = viewSummary.events.filter(e => e.action === action)
  const seen = list.map(e => e[key]).filter((v): v is number => v != null)
  return { events: list.length, never: list.length - seen.length, ms: roundSummary(summarize(seen), 0) }
}
const detection = {
  killToNotAlive: timingOf('kill -9', 'notAliveEverywhereMs'),
  stopToNotAlive: timingOf('SIGSTOP', 'notAliveEverywhereMs'),
  restartToAlive: timingOf('restart', 'aliveEverywhereMs'),
  contToAlive: timingOf('SIGCONT', 'aliveEverywhereMs'),
  upButNotAliveMs: viewSummary.upButNotAliveMs,
  goneButAliveMs: viewSummary.goneButAliveMs,
  healedAfterMs,
  perEvent: viewSummary.events
}
const loadEnd = loadavg()
const routable = new Map(CLIENT_PEERS.map(o => [o, routableTimeline(views.points, c.stateLog, o, SERVING_PEERS)]))
const summary = summarizeRun(records, events, c.liveTimeline, routable)
const perPeer = Object.fromEntries(c.serving.map(p => [p.name, {
  lives: p.lives,
  kills: events.filter(e => e.peer === p.name && e.action === 'kill -9').length,
  stops: events.filter(e => e.peer === p.name && e.action === 'SIGSTOP').length,
  servedCompleted: summary.servedBy[p.name] ?? 0
}]))
// CPU this run itself used, to tell its own load from the rest of the shared machine's.
const usage = process.cpuUsage()
const cpu = {
  peerProcessesAtEndMs: Math.round([...c.clients, ...c.serving.map(p => p.proc)].reduce((sum, p) => sum + cpuMs(p.pid), 0)),
  chaosScriptMs: Math.round((usage.user + usage.system) / 1000),
  wallMs: Math.round(clock())
}
// Answers the client peers handed to another serving peer when theirs died mid-answer (issue 14).
const handedOver = await handoverCount(c.clients.map(p => p.peer.api)).catch(() => null)
say(`load ended after ${((loadEnded - loadFrom) / 1000).toFixed(1)} s; stopping peers`)
await c.close()
finished = true
rmSync(root, { recursive: true, force: true })

const ok = summary.totals.hung === 0 && summary.totals.truncated === 0 && summary.successWithCandidatePct >= 99
const git = gitInfo()
const result: ResultFile = {
  part: 'chaos',
  title: 'Chaos: kill -9, restart and SIGSTOP of serving peers under mixed load',
  machine: { ...machineInfo(loadStart[0] ?? 0), loadAvgEnd: Math.round((loadEnd[0] ?? 0) * 100) / 100 },
  run: {
    date: new Date().toISOString(),
    ...git,
    command: `npm run chaos${process.argv.length > 2 ? ' -- ' + process.argv.slice(2).join(' ') : ''} (tsx scripts/chaos.ts)`,
    mode: 'full',
    durationSeconds: Math.round(clock() / 100) / 10
  },
  params: {
    durationS: durationMs / 1000,
    seed,
    clients: concurrency,
    requestTimeoutS: timeoutMs / 1000,
    peers: `client peers ${CLIENT_PEERS.join(', ')} (CLI \`start --backend none\`, never disturbed; ${CLIENT_PEERS[0]} is everyone's bootstrap); serving peers ${SERVING_PEERS.join(', ')} (createPeer + synthetic backend in-process, membership profile lan)`,
    backend: `synthetic model \`${MODEL}\`: ${SYNTHETIC.firstTokenMs} ms to first token, ${SYNTHETIC.tokensPerSecond} tok/s, capacity ${SYNTHETIC.capacity} per peer; max_tokens from ${MAX_TOKENS.join('/')}`,
    load: `${concurrency} closed-loop clients spread over ${CLIENT_PEERS.join(' and ')}, each request a random kind of ${KINDS.join(', ')}; after a 429/503 a client waits the answer's Retry-After before its next request`,
    chaos: `seeded: a new action every 1.5–4 s from ${CALM_START_MS / 1000} s until ${CALM_END_MS / 1000} s before the end; kill -9 (restart on the same data dir after 0.5–3 s) or SIGSTOP for 1–9 s then SIGCONT; never the last serving peer that is up`,
    cliRuntime: peerRuntime(),
    /** Wall clock of t = 0 in the event log and the request records, to line them up with peer logs. */
    startedAt: startedAtIso,
    loadAvg1_5_15Start: loadStart.map(v => Math.round(v * 100) / 100),
    loadAvg1_5_15End: loadEnd.map(v => Math.round(v * 100) / 100)
  },
  data: { ...summary, handedOver, perPeer, cpu, detection, viewPoints: views.points.map(p => ({ ...p, t: Math.round(p.t) })), events, liveTimeline: c.liveTimeline.map(p => ({ t: Math.round(p.t), live: p.live })) },
  targets: [
    { what: 'hung requests (no answer within the request timeout)', target: '0', measured: String(summary.totals.hung), met: summary.totals.hung === 0 },
    { what: 'mid-stream truncations without an error', target: '0', measured: String(summary.totals.truncated), met: summary.totals.truncated === 0 },
    { what: 'success while at least one serving peer is up for the whole request', target: '≥ 99 %', measured: `${summary.successWithCandidatePct} % (${summary.withCandidate.completed} of ${summary.withCandidate.sent})`, met: summary.successWithCandidatePct >= 99 }
  ],
  notes: [
    '"Up" = the serving peer\'s process has printed its ready line and is neither killed nor frozen (SIGSTOP). A request counts towards the success rate when at least one serving peer was up during all of it; the schedule never disturbs the last serving peer that is up, so that is normally every request. This is process state, not what the client peers\' views say: right after a kill or a freeze the views still list the peer as alive.',
    `A stricter subset, for diagnosis: requests during all of which a serving peer was up and also alive in the view of the client peer they entered through (${summary.withRoutableCandidate.sent} requests, ${summary.successWithRoutableCandidatePct} % success). Failures outside it are the views' doing (a running peer held suspect or dead, a gone peer still listed alive), not routing's or the HTTP edge's.`,
    'Completed = the API\'s final chunk / `[DONE]` / `done` line or whole JSON arrived and its text equals the synthetic backend\'s output for that max_tokens (checked for every request). Clean error = an HTTP error status with an error body in the API\'s format, or an in-stream error event. Hung = the request timeout fired first. Truncated = the stream or body ended without a final chunk and without an error.',
    `Answers handed to another serving peer after theirs was killed or frozen mid-answer (continued from the delivered text, issue 14; the client peers' harombe_completion_handovers_total): ${handedOver ?? 'not read'}. Clean errors of requests whose serving peer was killed or frozen while they ran: ${summary.cleanErrorsOnDisturbedPeer} of ${summary.totals.cleanError}.`
  ]
}
const file = writeResult(result)
if (values['no-report'] !== true) renderReport()

if (values.json === true) {
  process.stdout.write(JSON.stringify({ file, ok, seed, totals: summary.totals, withCandidate: summary.withCandidate, successWithCandidatePct: summary.successWithCandidatePct, latencyMs: summary.latencyMs, errors: summary.errors }, null, 2) + '\n')
} else {
  const out = [
    `chaos ${ok ? 'PASSED' : 'FAILED'} (seed ${seed}, ${durationMs / 1000} s, load avg ${result.machine.loadAvgStart} → ${result.machine.loadAvgEnd})`,
    `  all requests:            ${line(summary.totals)}`,
    `  with a serving peer up:  ${line(summary.withCandidate)} → success ${summary.successWithCandidatePct} %`,
    `  … and alive in the entry peer's view: ${line(summary.withRoutableCandidate)} → success ${summary.successWithRoutableCandidatePct} %`,
    `  handed over mid-answer:  ${handedOver ?? 'not read'}`,
    `  latency of completed ms: p50 ${summary.latencyMs.p50} · p99 ${summary.latencyMs.p99} · max ${summary.latencyMs.max}`,
    `  views of ${CLIENT_PEERS.join('/')}: ${viewLine(detection)}`,
    `  chaos: ${events.filter(e => e.action === 'kill -9').length} kill -9, ${events.filter(e => e.action === 'SIGSTOP').length} SIGSTOP, ${events.filter(e => e.action === 'restart').length} restarts, ${events.filter(e => e.action === 'restart failed').length} failed restarts`,
    ...Object.entries(summary.errors).flatMap(([o, list]) => list.map(x => `  ${o} ×${x.count}: ${x.message}`)),
    `  wrote ${file}`
  ]
  process.stdout.write(out.join('\n') + '\n')
}
process.exit(ok ? 0 : 1)

function viewLine (d: typeof detection): string {
  const one = (label: string, x: any): string => `${label} p50 ${x.ms.p50} ms, max ${x.ms.max} ms${x.never > 0 ? ` (${x.never} of ${x.events} never)` : ''}`
  const upNot = Object.entries(d.upButNotAliveMs).map(([k, v]) => `${k} ${(v / 1000).toFixed(1)} s`).join(', ')
  return `${one('kill→not alive', d.killToNotAlive)}; ${one('SIGSTOP→not alive', d.stopToNotAlive)}; ${one('restart→alive', d.restartToAlive)}; ${one('SIGCONT→alive', d.contToAlive)}; running but not alive (summed over views): ${upNot}`
}
