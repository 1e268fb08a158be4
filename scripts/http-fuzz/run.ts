// The HTTP fuzz run (issue 17), shared by `npm test` (a few hundred cases, stops at the first
// problem so fast-check shrinks it) and the benchmark part (10,000 cases, counts and goes on):
// every answer arrives within a bound, has a documented status in the route's own format, the
// peer keeps serving a normal completion, and its RSS stays within a bound.
import { Agent, METHODS } from 'node:http'
import fc from 'fast-check'
import { answerProblem, expectedStatuses, ROUTES } from './contract.js'
import { describeCase, httpCase, materialize, type HttpCase } from './cases.js'
import { headerBytes, sendCase, type Sent, type SendBounds } from './send.js'

export interface FuzzInit {
  /** The peer's API base URL. */
  api: string
  token: string
  /** A model the peer serves. */
  model: string
  /** The peer's request body limit in bytes. */
  bodyLimit: number
  numRuns: number
  seed?: number
  bounds?: SendBounds
  /** A normal completion is checked every this many cases (and after the last). */
  healthEvery: number
  /** The peer's resident set size in MB now. */
  rssMb: () => number
  /** The peer's live heap in MB after a garbage collection, where the runner can force one. */
  heapMb?: () => Promise<number>
  /** False once the peer process has exited (a crash); in-process peers leave it out. */
  alive?: () => boolean
  /** Tests: throw at the first problem, so fast-check shrinks the case. Benchmark: count and go on. */
  stopOnProblem: boolean
  onProgress?: (done: number, report: FuzzReport) => void
}

export interface FuzzReport {
  cases: number
  seed: number
  /** Answers by status; `hang` and `dropped:<code>` for requests that got none. */
  statuses: Record<string, number>
  /** The same by what the case hit: a documented route (`POST /api/chat`), `no route` or `unknown method`. */
  byTarget: Record<string, Record<string, number>>
  /** Answers from Node's HTTP parser (no route reached): unknown method, header block over 16 KiB. */
  transportAnswers: number
  hangs: number
  dropped: number
  /** The peer process exited during the run. */
  crashes: number
  /** Answers with an undocumented status or the wrong format. */
  violations: number
  /** The first few problems, each with its case. */
  problems: string[]
  health: { ok: number, failed: number }
  /** `samples`: at each normal completion (every `healthEvery` cases), to tell warm-up (a plateau) from a leak (a slope). */
  rssMb: { before: number, after: number, max: number, samples: number[] }
  /** Live heap (after a forced collection) at the same points, when `heapMb` was given. */
  heapMb: { samples: number[] }
  /** Per-case time to the whole answer, ms. */
  caseMs: { p50: number, p99: number, max: number }
  durationMs: number
}

/** Far above any documented answer here (the slowest: 8,192 streamed tokens, a 4 MiB upload); only a hang reaches it. */
export const DEFAULT_BOUNDS: SendBounds = { headersMs: 5_000, totalMs: 15_000 }
const KEPT_PROBLEMS = 20

export async function runHttpFuzz (init: FuzzInit): Promise<FuzzReport> {
  const base = new URL(init.api)
  const host = base.host
  const bounds = init.bounds ?? DEFAULT_BOUNDS
  const seed = init.seed ?? Date.now() % 2 ** 31
  // One connection reused, as a client library does: a response that never ends would stall the next case.
  const agent = new Agent({ keepAlive: true, maxSockets: 1 })
  const rssBefore = init.rssMb()
  const report: FuzzReport = {
    cases: 0, seed, statuses: {}, byTarget: {}, transportAnswers: 0, hangs: 0, dropped: 0, crashes: 0, violations: 0, problems: [],
    health: { ok: 0, failed: 0 }, rssMb: { before: rssBefore, after: rssBefore, max: rssBefore, samples: [] }, heapMb: { samples: [] }, caseMs: { p50: 0, p99: 0, max: 0 }, durationMs: 0
  }
  const times: number[] = []
  const started = performance.now()

  const problem = (what: string): void => {
    if (report.problems.length < KEPT_PROBLEMS) report.problems.push(what)
    if (init.stopOnProblem) throw new Error(what)
  }

  const health = async (): Promise<void> => {
    const ok = await normalCompletion(init.api, init.token, init.model, bounds.totalMs)
    if (ok === true) report.health.ok++
    else {
      report.health.failed++
      problem(`the peer stopped serving a normal completion after ${report.cases} cases: ${ok}`)
    }
    const rss = init.rssMb()
    report.rssMb.max = Math.max(report.rssMb.max, rss)
    report.rssMb.samples.push(Math.round(rss * 10) / 10)
    if (init.heapMb != null) report.heapMb.samples.push(Math.round(await init.heapMb() * 10) / 10)
  }

  const judge = (c: HttpCase, sent: Sent): void => {
    report.cases++
    const target = targetOf(c)
    const count = (key: string): void => {
      report.statuses[key] = (report.statuses[key] ?? 0) + 1
      const byTarget = report.byTarget[target] ??= {}
      byTarget[key] = (byTarget[key] ?? 0) + 1
    }
    if (sent.kind === 'hang') {
      report.hangs++
      count('hang')
      problem(`no answer (${sent.phase}) within ${Math.round(sent.ms)} ms: ${describeCase(c)}`)
      return
    }
    if (sent.kind === 'dropped') {
      report.dropped++
      count(`dropped:${sent.code}`)
      if (init.alive != null && !init.alive()) {
        report.crashes++
        problem(`the peer exited: ${describeCase(c)}`)
        return
      }
      problem(`connection ${sent.code} without an answer: ${describeCase(c)}`)
      return
    }
    times.push(sent.ms)
    count(String(sent.status))
    const shape = { method: c.method, path: c.path, headerBytes: headerBytes(c, host), authorized: isAuthorized(c, init.token), bodyBytes: materialize(c).body?.byteLength ?? 0 }
    if (expectedStatuses(shape, init.bodyLimit).kind === 'transport' || sent.status === 431) report.transportAnswers++
    const wrong = answerProblem(shape, { status: sent.status, contentType: sent.contentType, body: sent.body }, init.bodyLimit, c.method === 'HEAD')
    if (wrong != null) {
      report.violations++
      problem(`${wrong}: ${describeCase(c)}`)
    }
  }

  try {
    await fc.assert(fc.asyncProperty(httpCase({ token: init.token, model: init.model, bodyLimit: init.bodyLimit }), async c => {
      judge(c, await sendCase(base, c, agent, bounds))
      if (report.cases % init.healthEvery === 0) await health()
      init.onProgress?.(report.cases, report)
    }), { numRuns: init.numRuns, seed })
    await health()
  } finally {
    agent.destroy()
    times.sort((a, b) => a - b)
    const at = (q: number): number => Math.round(times[Math.min(times.length - 1, Math.floor(q * times.length))] ?? 0)
    report.caseMs = { p50: at(0.5), p99: at(0.99), max: Math.round(times.at(-1) ?? 0) }
    report.rssMb.after = init.rssMb()
    report.rssMb.max = Math.max(report.rssMb.max, report.rssMb.after)
    report.durationMs = Math.round(performance.now() - started)
  }
  return report
}

function targetOf (c: HttpCase): string {
  if (!METHODS.includes(c.method)) return 'unknown method'
  // HEAD is served wherever GET is.
  const route = ROUTES.find(r => r.path === c.path && (r.method === c.method || (r.method === 'GET' && c.method === 'HEAD')))
  return route != null ? `${c.method} ${route.path}` : 'no route'
}

function isAuthorized (c: HttpCase, token: string): boolean {
  return c.headers.some(([k, v]) => k === 'authorization' && v === `Bearer ${token}`)
}

/** `true`, or why a plain completion (what every client sends) failed. */
export async function normalCompletion (api: string, token: string, model: string, timeoutMs: number): Promise<true | string> {
  try {
    const response = await fetch(`${api}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model, messages: [{ role: 'user', content: 'still there?' }], max_tokens: 4 }),
      signal: AbortSignal.timeout(timeoutMs)
    })
    const body = await response.json() as any
    const content = body?.choices?.[0]?.message?.content
    return response.status === 200 && typeof content === 'string' && content !== '' ? true : `status ${response.status}: ${JSON.stringify(body).slice(0, 200)}`
  } catch (err: any) {
    return String(err?.message ?? err)
  }
}
