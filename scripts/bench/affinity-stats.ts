// Figures and targets of `bench:affinity` (issue 23), computed from the samples a workload
// produced: pure functions, so the report and the unit test read them the same way.
import type { Sample } from './affinity-workloads.js'
import { percentile, round } from './stats.js'
import type { Target } from './results.js'

export type Workload = 'a' | 'b' | 'c' | 'd'
export type Setup = '1 entry' | '2 entries'

export interface Ttft { n: number, p50: number, p95: number }

export interface Figures {
  requests: number
  failed: number
  firstError?: string
  /** First request sent → last answer ended, seconds. */
  wallS: number
  /** Completed requests per second of wall time. */
  perSecond: number
  /** Requests that start something: first turns and one-shots (background excluded). */
  ttftFirstMs: Ttft
  ttftFollowUpMs: Ttft
  promptTokens: number
  cachedTokens: number
  /** Whether any answer carried usage.prompt_tokens_details.cached_tokens. */
  cachedReported: boolean
  /** cached / prompt tokens over all answers. */
  cachedShare: number
  /** The same, leaving out each serving peer's first request (its cache was empty then). */
  cachedShareAfterFirst: number
  /** Completed requests per serving peer (x-harombe-node). */
  perPeer: Record<string, number>
  /** Follow-ups served by the peer that served the same conversation's previous turn. */
  warmFollowUps: { warm: number, of: number }
  /** The most requests each peer had in flight at once, seen from the clients. */
  maxInFlight: Record<string, number>
  /** Instants (request starts) where some peer had more than 2 × the mean + 1 in flight, and the worst one. */
  balance: { violations: number, worst?: { counts: Record<string, number>, bound: number } }
}

export function ttft (values: number[]): Ttft {
  const sorted = values.filter(v => Number.isFinite(v)).sort((a, b) => a - b)
  return { n: sorted.length, p50: round(percentile(sorted, 50), 1), p95: round(percentile(sorted, 95), 1) }
}

/** Share of follow-ups on the peer that served the conversation's previous turn (by conversation id and turn). */
export function warmFollowUps (samples: Sample[]): { warm: number, of: number } {
  const byTurn = new Map<string, Sample>()
  for (const s of samples) if (s.conv != null && s.turn != null) byTurn.set(`${s.conv}/${s.turn}`, s)
  let warm = 0
  let of = 0
  for (const s of samples) {
    if (s.kind !== 'follow-up' || !s.ok || s.conv == null || s.turn == null) continue
    const previous = byTurn.get(`${s.conv}/${s.turn - 1}`)
    if (previous?.node == null) continue
    of++
    if (previous.node === s.node) warm++
  }
  return { warm, of }
}

/**
 * Requests in flight per peer, from the clients' side (sent → answer ended), checked at every
 * request start: the bound is 2 × the mean over all serving peers (idle ones count) + 1.
 */
export function inFlight (samples: Sample[], peers: string[]): Pick<Figures, 'maxInFlight' | 'balance'> {
  const events: Array<{ at: number, node: string, delta: 1 | -1 }> = []
  for (const s of samples) {
    if (s.node == null) continue
    events.push({ at: s.start, node: s.node, delta: 1 }, { at: s.end, node: s.node, delta: -1 })
  }
  // Ends before starts at the same instant: a request sent as another ended does not overlap it.
  events.sort((x, y) => x.at - y.at || x.delta - y.delta)
  const names = [...new Set([...peers, ...events.map(e => e.node)])]
  const now: Record<string, number> = Object.fromEntries(names.map(n => [n, 0]))
  const max: Record<string, number> = { ...now }
  let violations = 0
  let worst: Figures['balance']['worst']
  let worstExcess = -Infinity
  for (const e of events) {
    now[e.node] = (now[e.node] ?? 0) + e.delta
    if (e.delta < 0) continue
    max[e.node] = Math.max(max[e.node] ?? 0, now[e.node] ?? 0)
    const total = names.reduce((sum, n) => sum + (now[n] ?? 0), 0)
    const bound = 2 * total / names.length + 1
    const top = Math.max(...names.map(n => now[n] ?? 0))
    if (top > bound) violations++
    if (top - bound > worstExcess) {
      worstExcess = top - bound
      worst = { counts: { ...now }, bound: round(bound, 2) }
    }
  }
  return { maxInFlight: max, balance: { violations, ...(worst != null ? { worst } : {}) } }
}

/** Cached share of prompt tokens, leaving out each peer's first request (by start time) when asked. */
export function cachedShare (samples: Sample[], skipFirstPerPeer: boolean): number {
  const firsts = new Set<Sample>()
  if (skipFirstPerPeer) {
    const first = new Map<string, Sample>()
    for (const s of samples) {
      if (!s.ok || s.node == null) continue
      const seen = first.get(s.node)
      if (seen == null || s.start < seen.start) first.set(s.node, s)
    }
    for (const s of first.values()) firsts.add(s)
  }
  let prompt = 0
  let cached = 0
  for (const s of samples) {
    if (!s.ok || firsts.has(s)) continue
    prompt += s.prompt ?? 0
    cached += s.cached ?? 0
  }
  return prompt === 0 ? NaN : round(cached / prompt, 3)
}

export function figures (samples: Sample[], peers: string[]): Figures {
  const ok = samples.filter(s => s.ok)
  const start = Math.min(...samples.map(s => s.start))
  const end = Math.max(...samples.map(s => s.end))
  const wallS = samples.length === 0 ? NaN : (end - start) / 1000
  const perPeer: Record<string, number> = Object.fromEntries(peers.map(p => [p, 0]))
  for (const s of ok) if (s.node != null) perPeer[s.node] = (perPeer[s.node] ?? 0) + 1
  const firstError = samples.find(s => !s.ok)?.error
  return {
    requests: samples.length,
    failed: samples.length - ok.length,
    ...(firstError != null ? { firstError } : {}),
    wallS: round(wallS, 2),
    perSecond: round(ok.length / wallS, 3),
    ttftFirstMs: ttft(ok.filter(s => s.kind === 'first' || s.kind === 'one-shot').map(s => s.ttft)),
    ttftFollowUpMs: ttft(ok.filter(s => s.kind === 'follow-up').map(s => s.ttft)),
    promptTokens: ok.reduce((sum, s) => sum + (s.prompt ?? 0), 0),
    cachedTokens: ok.reduce((sum, s) => sum + (s.cached ?? 0), 0),
    cachedReported: ok.some(s => s.cached != null),
    cachedShare: cachedShare(samples, false),
    cachedShareAfterFirst: cachedShare(samples, true),
    perPeer,
    warmFollowUps: warmFollowUps(samples),
    ...inFlight(samples, peers)
  }
}

/** One workload under one policy, as the result file keeps it. */
export interface AffinityRun {
  setup: Setup
  workload: Workload
  policy: string
  figures: Figures
  /** The machine's 1-minute load average when this run started and ended: shared machine, so it moves between runs. */
  load?: [number, number]
  samples: Sample[]
}

export interface AffinityData {
  /** Policies run, in the order they were compared; `announced` alone when the peer has no --route-policy. */
  policies: string[]
  /** Whether the peer binary accepts --route-policy. */
  policyFlag: boolean
  servingPeers: string[]
  runs: AffinityRun[]
}

export const find = (d: AffinityData, workload: Workload, policy: string, setup: Setup = '1 entry'): AffinityRun | undefined =>
  d.runs.find(r => r.workload === workload && r.policy === policy && r.setup === setup)

/** The policy the absolute targets are judged on: affinity when it ran, else the only one there is. */
export function judgedPolicy (d: AffinityData): string {
  return d.policies.includes('affinity') ? 'affinity' : d.policies[d.policies.length - 1] ?? 'announced'
}

const pct = (v: number): string => Number.isFinite(v) ? `${round(100 * v, 1)} %` : '–'
const times = (v: number): string => Number.isFinite(v) ? `× ${round(v, 2)}` : '–'

/**
 * Issue 23's benchmark targets, judged on the data (never typed in): ratio targets need both
 * policies in the run and are left out otherwise; the rest are judged on `judgedPolicy`.
 */
export function affinityTargets (d: AffinityData): Target[] {
  const out: Target[] = []
  const p = judgedPolicy(d)
  const a = find(d, 'a', p)?.figures
  const aToday = find(d, 'a', 'announced')?.figures
  if (p !== 'announced' && a != null && aToday != null) {
    const r = a.ttftFollowUpMs.p50 / aToday.ttftFollowUpMs.p50
    out.push({ what: `(a) follow-up TTFT p50, ${p} vs announced`, target: '≤ × 0.2', measured: `${times(r)} (${round(a.ttftFollowUpMs.p50, 0)} vs ${round(aToday.ttftFollowUpMs.p50, 0)} ms)`, met: r <= 0.2 })
    const w = a.wallS / aToday.wallS
    out.push({ what: `(a) wall time, ${p} vs announced`, target: '≤ × 0.5', measured: `${times(w)} (${a.wallS} vs ${aToday.wallS} s)`, met: w <= 0.5 })
  }
  if (a != null) {
    const share = a.warmFollowUps.of === 0 ? NaN : a.warmFollowUps.warm / a.warmFollowUps.of
    out.push({ what: `(a) follow-ups on a warm peer (same peer as the previous turn), ${p}`, target: '≥ 90 %', measured: `${pct(share)} (${a.warmFollowUps.warm} of ${a.warmFollowUps.of})`, met: share >= 0.9 })
  }
  const b = find(d, 'b', p)?.figures
  if (b != null) {
    const measured = b.cachedReported ? pct(b.cachedShareAfterFirst) : 'not reported (0 %)'
    out.push({ what: `(b) prompt tokens from cache after each serving peer's first request, ${p}`, target: '≥ 80 %', measured, met: b.cachedReported && b.cachedShareAfterFirst >= 0.8 })
  }
  const c = find(d, 'c', p)?.figures
  const cInFlight = find(d, 'c', 'in-flight')?.figures
  if (p !== 'in-flight' && c != null && cInFlight != null) {
    const r = c.perSecond / cInFlight.perSecond
    out.push({ what: `(c) throughput with nothing shared, ${p} vs in-flight`, target: '≥ × 0.95', measured: `${times(r)} (${round(c.perSecond, 3)} vs ${round(cInFlight.perSecond, 3)} req/s)`, met: r >= 0.95 })
  }
  const dd = find(d, 'd', p)?.figures
  if (dd != null) {
    const top = Math.max(...Object.values(dd.maxInFlight))
    const worst = dd.balance.worst
    const detail = worst == null ? '' : `; tightest instant ${Object.values(worst.counts).join('/')} against a bound of ${worst.bound}`
    out.push({ what: `(d) no peer's in-flight count above 2 × the mean + 1, ${p}`, target: '0 instants above', measured: `${dd.balance.violations} instant(s) above; max in flight per peer ${top}${detail}`, met: dd.balance.violations === 0 })
  }
  return out
}

/**
 * The issue's (a) ratios against "today's" code itself: the after run's judged policy against the
 * before run's `announced` (routing on announced load, no prompt cache). Across two runs, so the
 * machine's load differs between the two sides; the report prints both runs' load beside them.
 */
export function acrossRunTargets (after: AffinityData, before: AffinityData): Target[] {
  const p = judgedPolicy(after)
  const a = find(after, 'a', p)?.figures
  const b = find(before, 'a', 'announced')?.figures
  if (a == null || b == null) return []
  const r = a.ttftFollowUpMs.p50 / b.ttftFollowUpMs.p50
  const w = a.wallS / b.wallS
  return [
    { what: `(a) follow-up TTFT p50 against the before run (today's code), ${p}`, target: '≤ × 0.2', measured: `${times(r)} (${round(a.ttftFollowUpMs.p50, 0)} vs ${round(b.ttftFollowUpMs.p50, 0)} ms)`, met: r <= 0.2 },
    { what: `(a) wall time against the before run (today's code), ${p}`, target: '≤ × 0.5', measured: `${times(w)} (${a.wallS} vs ${b.wallS} s)`, met: w <= 0.5 }
  ]
}

/**
 * The policies of `known` that `start --help` offers under `--route-policy` (in `known`'s order);
 * none when the option is not there (today's peer). Reads the option's help text up to the next
 * option, since the values may sit in the placeholder or in the wrapped description.
 */
export function routePolicies (help: string, known: readonly string[]): string[] {
  const at = help.indexOf('--route-policy')
  if (at < 0) return []
  const rest = help.slice(at + '--route-policy'.length)
  const next = rest.search(/\n\s*-{1,2}[a-z]/)
  const text = next < 0 ? rest : rest.slice(0, next)
  const offered = known.filter(p => new RegExp(`(^|[^a-z-])${p}($|[^a-z-])`).test(text))
  return offered.length > 0 ? offered : [...known]
}
