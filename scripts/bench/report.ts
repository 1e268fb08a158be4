// Renders BENCHMARKS.md (and bench/convergence.svg) from bench/results/*.json. Every figure in
// the page is read from a result file here; nothing is typed in by hand.
//
//   tsx scripts/bench/report.ts        (run.ts calls it after every run)
import { writeFileSync } from 'node:fs'
import { updateBenchmarks } from '../sim/report.js'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { REPO_ROOT } from './procs.js'
import { readResults, type ResultFile } from './results.js'
import type { Summary } from './stats.js'
import { idleTargets, type IdleRow } from './part-idle.js'
import { n0, n1, n2, signed, table } from './markdown.js'
import { issue15Section } from './report-issue15.js'
import { DEFAULT_MAX_TOKENS_CAP } from '../../src/config/constants.js'
import { issue24Section } from './report-issue24.js'
import { affinitySection, affinitySvg } from './report-affinity.js'
import { soakHighlight, soakSection, soakSvg } from '../soak/report.js'
import { embedSection } from './report-embed.js'
import { memorySection } from './report-memory.js'

const OUT = join(REPO_ROOT, 'BENCHMARKS.md')
const SVG = join(REPO_ROOT, 'bench', 'convergence.svg')
const AFFINITY_SVG = join(REPO_ROOT, 'bench', 'affinity.svg')
const SOAK_SVG = join(REPO_ROOT, 'bench', 'soak.svg')

/** Part order and the npm script that reruns each. */
const PARTS = ['hop', 'stream', 'routed', 'convergence', 'failure', 'startup', 'embedded', 'profile', 'chaos', 'idle', 'fuzz', 'rtt', 'pull', 'affinity', 'embed', 'soak', 'memory'] as const

const ms3 = (s: Summary | undefined, f = n2): string => s == null ? '– / – / –' : `${f(s.p50)} / ${f(s.p90)} / ${f(s.p99)}`

function source (r: ResultFile, file: string): string {
  return `<sub>Source: \`bench/results/${file}\` · ${r.run.mode} run · ${r.run.date.slice(0, 16).replace('T', ' ')} UTC · \`${r.run.command}\` · ${r.run.durationSeconds} s</sub>`
}

function notes (r: ResultFile): string {
  return r.notes.length > 0 ? r.notes.map(n => `- ${n}`).join('\n') : ''
}

/** The full run's file when there is one, else the quick run's. */
function pick (results: Map<string, ResultFile>, part: string): { r: ResultFile, file: string } | undefined {
  for (const file of [`${part}.json`, `${part}.quick.json`]) {
    const r = results.get(file)
    if (r != null) return { r, file }
  }
  return undefined
}

function hopSection (r: ResultFile): string {
  const d = r.data as any
  const paths = table(
    ['path', 'TTFT ms p50 / p90 / p99', 'total ms p50 / p90 / p99', 'requests', 'failed'],
    d.paths.map((p: any) => [`\`${p.key}\`: ${p.label}`, ms3(p.ttftMs), ms3(p.totalMs), String(p.requests), String(p.failures)])
  )
  const comps = table(
    ['comparison', 'added TTFT ms p50 / p90 / p99', 'added total ms p50 / p90 / p99', 'total p50 ratio'],
    Object.entries(d.comparisons).map(([k, c]: [string, any]) => [k, `${signed(c.ttftP50Ms)} / ${signed(c.ttftP90Ms)} / ${signed(c.ttftP99Ms)}`, `${signed(c.totalP50Ms)} / ${signed(c.totalP90Ms)} / ${signed(c.totalP99Ms)}`, `× ${n2(c.totalP50Ratio)}`])
  )
  const p = r.params as any
  return `${p.rounds} rounds; each round sends one streamed completion of ${p.maxTokens} tokens over every path in turn (order rotated), after ${p.warmupRounds} warm-up rounds. Backend: ${p.backend}.\n\n${paths}\n\n${comps}`
}

function streamSection (r: ResultFile): string {
  const d = r.data as any
  const direct = d.paths.find((p: any) => p.key === 'direct')?.tokensPerSecond.p50
  const rows = table(
    ['path', 'tok/s p50 / p90 / p99', 'vs direct (p50)', 'stream total ms p50', 'streams', 'failed'],
    d.paths.map((p: any) => [`\`${p.key}\`: ${p.label}`, `${n0(p.tokensPerSecond.p50)} / ${n0(p.tokensPerSecond.p90)} / ${n0(p.tokensPerSecond.p99)}`, `× ${n2(p.tokensPerSecond.p50 / direct)}`, n1(p.totalMs.p50), String(p.streams), String(p.failures)])
  )
  const p = r.params as any
  const cap = p.maxTokensCap != null ? ` The mesh's peers ran with \`--max-tokens-cap ${n0(p.maxTokensCap)}\`, so every path carries the whole answer.` : ' The peers ran at their default `--max-tokens-cap`.'
  return `${p.repeats} streams of ${n0(p.tokensPerStream)} tokens per path, one at a time, interleaved. Backend: ${p.backend}.${cap} Streams that failed, ended with a wrong token or character count, or came from the wrong peer: ${d.failedStreams ?? d.corruptStreams} (wrong counts: ${d.corruptStreams}).\n\n${rows}${streamBefore(r, readResults('before-26').get('stream.json'))}`
}

/**
 * What issue 26 changed in this part, told from the run it replaced (`bench/results/before-26/`):
 * the mesh's peers capped every answer at the default cap while the direct path did not, and the
 * targets were judged on the cut-off streams.
 */
function streamBefore (after: ResultFile, before: ResultFile | undefined): string {
  if (before == null || before.run.date === after.run.date) return ''
  const b = before.data as any
  const tp = (r: ResultFile, key: string): string => n0((r.data as any).paths?.find((x: any) => x.key === key)?.tokensPerSecond?.p50)
  return `\n\nWhat changed (issue 26): the run before it (\`${before.run.gitCommit.slice(0, 8)}\`, ${before.run.date.slice(0, 16).replace('T', ' ')} UTC, \`bench/results/before-26/stream.json\`) asked for ${n0((before.params as any).tokensPerStream)} tokens per stream, but the mesh's peers ran at the default \`--max-tokens-cap\` (${n0(DEFAULT_MAX_TOKENS_CAP)}): ${b.corruptStreams} streams came back short, the part did not count them as failures, and its targets read ${before.targets.map(t => `"${t.measured}" (${t.met ? 'met' : 'missed'})`).join(' and ')} — the hop path at ${tp(before, 'hop')} tok/s against ${tp(before, 'direct')} direct, from streams cut at the cap. Now the peers' cap is above the stream, a short or corrupt stream is a failure of its path, and a target over a failed path is missed.`
}

function routedSection (r: ResultFile): string {
  const d = r.data as any
  const p = r.params as any
  const byC = new Map<number, any[]>()
  for (const row of d.rows) byC.set(row.concurrency, [...(byC.get(row.concurrency) ?? []), row])
  const get = (rows: any[], key: string): any => rows.find(x => x.target === key)
  const labels = [...new Map(d.rows.map((x: any) => [x.target, x.label])).entries()].map(([k, l]) => `\`${k}\`: ${String(l)}`).join(' · ')
  const rows = table(
    ['clients', 'mesh req/s', 'proxy req/s', 'direct req/s', 'mesh / proxy', 'mesh latency ms p50 / p90 / p99', 'proxy latency ms p50 / p90 / p99', 'CPU ms/request: entry peer · serving peers (mesh) vs proxy · servers', 'failed (mesh / proxy / direct)'],
    [...byC.entries()].map(([c, rows]) => {
      const m = get(rows, 'mesh')
      const x = get(rows, 'proxy')
      const dd = get(rows, 'direct')
      const cpu = (row: any): string => row?.cpuMsPerRequest == null ? '–' : `${n2(row.cpuMsPerRequest.entry)} · ${n2(row.cpuMsPerRequest.serving)}`
      return [String(c), n0(m?.perSecond), n0(x?.perSecond), n0(dd?.perSecond), `× ${n2(m?.perSecond / x?.perSecond)}`, ms3(m?.latencyMs), ms3(x?.latencyMs), `${cpu(m)} vs ${cpu(x)}`, `${m?.failed ?? '–'} / ${x?.failed ?? '–'} / ${dd?.failed ?? '–'}`]
    })
  )
  return `Closed loop: each client sends its next request when the previous one ends; ${p.durationMs / 1000} s per measurement after ${p.warmupMs} ms warm-up, at most ${n0(p.maxRequestsPerRun)} requests. ${p.maxTokens}-token non-streamed completions, ${p.backend} backend. Paths: ${labels}.\n\n${rows}`
}

function convergenceSection (r: ResultFile): string {
  const d = r.data as any
  const p = r.params as any
  const rows = table(
    ['N', 'rounds', 'converged', 'convergence ms p50 / p90 / p99', 'max ms', 'each peer: ready → lists all, ms p50', 'start wave ms p50', 'idle CPU per peer, ms/s p50 / max', 'RSS per peer MB p50 / max'],
    d.byN.map((b: any) => [String(b.n), String(b.rounds), `${b.rounds - b.notConverged} / ${b.rounds}`, ms3(b.convergenceMs, n0), n0(b.convergenceMs.max), n0(b.perPeerReadyToCompleteMs.p50), n0(b.startWaveMs.p50), `${n0(b.idleCpuMsPerSecond?.p50)} / ${n0(b.idleCpuMsPerSecond?.max)}`, `${n1(b.rssMb.p50)} / ${n1(b.rssMb.max)}`])
  )
  // Why a round did not converge: the states and reasons the peers' views ended with.
  const failed = (d.rounds as any[]).filter(x => x.convergenceMs == null)
  let why = ''
  if (failed.length > 0) {
    const reasons = new Map<string, number>()
    for (const x of failed) for (const [k, v] of Object.entries(x.notAlive ?? {})) reasons.set(k, (reasons.get(k) ?? 0) + (v as number))
    const top = [...reasons.entries()].sort((a, b) => b[1] - a[1]).slice(0, 6)
    why = `\n\nRounds that did not converge within ${p.timeoutMs / 1000} s: ${failed.map(x => `N = ${x.n} (${x.peersComplete}/${x.n} peers ever listed all)`).join(', ')}. Members not alive in some view when those rounds ended, by state and reason (summed over views):\n\n${table(['state: reason', 'count'], top.map(([k, v]) => [`\`${k}\``, String(v)]))}`
  }
  return `${p.topology.charAt(0).toUpperCase()}${p.topology.slice(1)}. Peer: \`${p.peer}\`. Convergence = from the last peer's ready line until every peer's view lists all N as alive.\n\n${rows}${why}\n\n![Convergence time vs N](bench/convergence.svg)`
}

function failureSection (r: ResultFile): string {
  const d = r.data as any
  const p = r.params as any
  const rows = table(
    ['trial', 'kill → not routable on every peer (ms)', 'per peer (ms)', 'kill → dead everywhere (ms)', 'requests', 'failed: streams committed to the victim', 'failed: others', 'latency ms p50 / p99 before kill', 'latency ms p50 / p99 kill → detection'],
    d.trials.map((t: any, i: number) => [
      String(i + 1),
      n1(t.noPeerRoutesMs),
      Object.entries(t.notRoutableMs).map(([k, v]) => `${k} ${n1(v as number)}`).join(', '),
      n1(t.allDeadMs),
      String(t.requests),
      String(t.committedToVictim),
      String(t.otherFailures),
      `${n1(t.baselineLatencyMs.p50)} / ${n1(t.baselineLatencyMs.p99)}`,
      t.windowRequests > 0 ? `${n1(t.windowLatencyMs.p50)} / ${n1(t.windowLatencyMs.p99)} (${t.windowRequests} req)` : 'no request started'
    ])
  )
  return `Peers: ${p.peers}. Load: ${p.load}; backend ${p.backend}. ${p.trials} trial(s), each with a fresh victim.\n\n${rows}${failureBefore(readResults('before-14'))}`
}

/** Answers lost with their serving peer before continuation (issue 14), from the runs kept in `bench/results/before-14/`. */
function failureBefore (before: Map<string, ResultFile>): string {
  const runs = [...before.entries()].filter(([, r]) => r.part === 'failure').sort(([, a], [, b]) => a.run.date.localeCompare(b.run.date))
  if (runs.length === 0) return ''
  const lost = (r: ResultFile): number => ((r.data as any).trials as any[]).reduce((s, t) => s + (t.committedToVictim ?? 0), 0)
  const each = runs.map(([file, r]) => `${lost(r)} over ${(r.data as any).trials.length} trials in the run at \`${r.run.gitCommit.slice(0, 8)}\` (${r.run.date.slice(0, 16).replace('T', ' ')} UTC, \`bench/results/before-14/${file}\`)`)
  return `\n\nBefore continuation (issue 14), answers that had tokens from the killed peer failed with it: ${each.join('; ')}. Whether an answer is mid-stream at the moment of the kill is chance, hence the spread.`
}

function startupSection (r: ResultFile): string {
  const d = r.data as any
  const p = r.params as any
  const rows: string[][] = []
  for (const [key, label] of [['dist', 'CLI via dist/ (compiled)'], ['tsx', 'CLI via src/ through tsx']] as const) {
    const g = d[key]
    if (g == null) continue
    rows.push([label, String(g.starts), ms3(g.startToReadyMs, n0), ms3(g.idleRssMb, n1), n1(g.peakRssMb.p50)])
  }
  return `Command: \`${p.command}\`; RSS read after ${p.idleMs / 1000} s idle.\n\n${table(['runtime', 'starts', 'spawn → ready ms p50 / p90 / p99', 'idle RSS MB p50 / p90 / p99', 'peak RSS MB p50'], rows)}`
}

function embeddedSection (r: ResultFile): string {
  const d = r.data as any
  const p = r.params as any
  const direct = d.paths.find((x: any) => x.key === 'direct')?.tokensPerSecond.p50
  const rows = table(
    ['path', 'tok/s p50 / p90 / p99', 'vs direct (p50)', 'decode tok/s p50', 'TTFT ms p50 / p90 / p99', 'runs', 'failed'],
    d.paths.map((x: any) => [`\`${x.key}\`: ${x.label}`, `${n0(x.tokensPerSecond.p50)} / ${n0(x.tokensPerSecond.p90)} / ${n0(x.tokensPerSecond.p99)}`, `× ${n2(x.tokensPerSecond.p50 / direct)}`, n0(x.decodeTokensPerSecond.p50), ms3(x.ttftMs, n1), String(x.runs), String(x.failures)])
  )
  return `Model: ${p.model}, ${p.maxTokens} tokens per run, ${p.repeats} runs per path (interleaved), llama.cpp threads: ${p.threads}, streamed. tok/s = tokens / (request → end); decode tok/s excludes time to first token.\n\n${rows}`
}

function profileSection (r: ResultFile): string {
  const d = r.data as any
  const parts = ['entry', 'serving'].map(who => {
    const s = d.profiles[who]
    if (s == null) return `No profile was written for the ${who} peer.`
    const pk = table(['package (native and Node work charged to the package that asked for it)', 'share of busy time', 'ms', 'most frequent caller from outside the package'],
      s.byPackage.slice(0, 10).map((x: any) => [`\`${x.name}\``, `${n1(x.share)} %`, n0(x.ms), x.calledFrom?.[0] != null ? `\`${x.calledFrom[0].name}\` (${n1(x.calledFrom[0].share)} %)` : '–']))
    const fn = table(['function (self time)', 'share', 'ms'], s.byFunction.slice(0, 10).map((x: any) => [`\`${x.name}\``, `${n1(x.share)} %`, n0(x.ms)]))
    const inc = table(['function (inclusive: on the synchronous stack)', 'share', 'ms'], (s.inclusive ?? []).map((x: any) => [`\`${x.name}\``, `${n1(x.share)} %`, n0(x.ms)]))
    return `**${who} peer** — profiled window ${n0(s.totalMs)} ms, idle ${n0(s.idleMs)} ms.\n\n${pk}\n\n<details><summary>Top functions of the ${who} peer</summary>\n\n${fn}\n\n${inc}\n\n</details>`
  })
  const cpu = d.cpuMsPerRequest != null ? ` Measured CPU per request (from /proc): entry peer ${n2(d.cpuMsPerRequest.entry)} ms, serving peer ${n2(d.cpuMsPerRequest.serving)} ms.` : ''
  return `${n0(d.requests)} requests (${n0(d.perSecondUnderProfiler)} req/s under the profiler, ${d.failed} failed) at ${(r.params as any).concurrency} clients, one entry peer → one serving peer.${cpu}\n\n${parts.join('\n\n')}`
}

/** chaos.json is written by `npm run chaos` (scripts/chaos.ts), not by the benchmark runner. */
function chaosSection (r: ResultFile): string {
  const d = r.data as any
  const p = r.params as any
  const head = ['requests', 'sent', 'completed', 'clean errors', 'hung', 'truncated without an error', 'wrong text', 'other', 'success']
  const row = (label: string, t: any): string[] => [label, n0(t.sent), n0(t.completed), n0(t.cleanError), n0(t.hung), n0(t.truncated), n0(t.corrupt), n0(t.protocolError), `${n2(100 * t.completed / t.sent)} %`]
  const totals = table(head, [
    row('all', d.totals),
    row('with a serving peer up during all of it', d.withCandidate),
    ...(d.withRoutableCandidate != null ? [row('with a serving peer up and alive in the entry peer\'s view during all of it', d.withRoutableCandidate)] : []),
    ...Object.entries(d.byKind).map(([k, t]) => row(`\`${k}\``, t))
  ])
  const count = (action: string): number => (d.events as any[]).filter(e => e.action === action).length
  const peers = table(['serving peer', 'kill -9', 'SIGSTOP', 'lives (1 + restarts)', 'completed requests served'],
    Object.entries(d.perPeer).map(([name, x]: [string, any]) => [name, String(x.kills), String(x.stops), String(x.lives), n0(x.servedCompleted)]))
  const errors = Object.entries(d.errors as Record<string, Array<{ message: string, count: number }>>).flatMap(([o, list]) => list.map(x => [o, `\`${x.message.replace(/\|/g, '\\|')}\``, String(x.count)]))
  return [
    `${p.durationS} s of load, seed ${p.seed}, request timeout ${p.requestTimeoutS} s. Peers: ${p.peers}. Backend: ${p.backend}. Load: ${p.load}. Chaos: ${p.chaos}. Load average (1/5/15 min) ${p.loadAvg1_5_15Start.join(' / ')} at the start, ${p.loadAvg1_5_15End.join(' / ')} at the end.`,
    totals,
    `CPU: the peer processes alive at the end used ${n1(d.cpu?.peerProcessesAtEndMs / 1000)} s (killed lives not counted) and the load generator ${n1(d.cpu?.chaosScriptMs / 1000)} s, over ${n1(d.cpu?.wallMs / 1000)} s of wall time on ${r.machine.cores} cores.`,
    `Chaos actions: ${count('kill -9')} kill -9, ${count('restart')} restarts (${count('restart failed')} failed), ${count('SIGSTOP')} SIGSTOP/SIGCONT, ${count('skip')} skipped because only one serving peer was up. Latency of completed requests, ms p50 / p90 / p99 (max): ${ms3(d.latencyMs, n0)} (${n0(d.latencyMs.max)}); first content of completed streams: ${ms3(d.firstContentMs, n0)}.`,
    peers,
    chaosViews(d.detection),
    errors.length > 0 ? table(['outcome', 'message (numbers and peer ids folded)', 'count'], errors) : 'Every request completed.'
  ].join('\n\n')
}

/** What the client peers' views said about the serving peers, against what the processes were. */
function chaosViews (x: any): string {
  if (x == null) return ''
  const one = (what: string, t: any): string[] => [what, String(t.events), `${n0(t.ms.p50)} / ${n0(t.ms.max)}`, String(t.never)]
  const rows = table(['after', 'events', 'ms until every client peer agreed, p50 / max', 'not before the next change'], [
    one('kill -9 → not alive', x.killToNotAlive),
    one('SIGSTOP → not alive', x.stopToNotAlive),
    one('restart ready → alive', x.restartToAlive),
    one('SIGCONT → alive', x.contToAlive)
  ])
  const per = (m: Record<string, number>): string => Object.entries(m).map(([k, v]) => `${k} ${n1(v / 1000)} s`).join(', ')
  const healed = x.healedAfterMs != null ? `every client peer listed every serving peer alive ${n0(x.healedAfterMs)} ms after the last action ended` : 'some serving peer was still not alive in a client peer\'s view 20 s after the last action ended'
  return `Client peers' views (from their /api/cluster/events) against the processes' real state:\n\n${rows}\n\nRunning (not killed, not frozen) but not alive in a view, summed over both views: ${per(x.upButNotAliveMs)}. Killed or frozen but still alive in a view: ${per(x.goneButAliveMs)}. At the end, ${healed}.`
}

/**
 * Idle cost per peer (issue 12): the current run and, when `bench/results/before/idle.json` exists,
 * the run before the membership rewrite beside it (`before → after` in each cell). Either may be absent.
 */
/**
 * Where an idle peer's CPU went after SWIM (issue 12): an analysis written by hand at one commit,
 * beside the idle run of that commit, which `bench/results/at-issue-12/idle.json` keeps. Its
 * figures from that run are read from the file; the profile figures were measured by hand at that
 * commit and are labelled so. The current run's figures stand beside them: where they disagree,
 * the table above is the current truth.
 */
function idleAnalysis (current: ResultFile | undefined, at: ResultFile | undefined): string {
  if (at == null) return ''
  const cpu = (r: ResultFile | undefined, n: number): string => {
    const row = (((r?.data as any)?.rows ?? []) as IdleRow[]).find(x => x.n === n)
    return row == null ? '–' : `${n2(row.idle_cpu_ms_per_s.p50)} ms/s`
  }
  const commit = at.run.gitCommit.slice(0, 8)
  const now = current == null ? '' : ` The current run (\`${current.run.gitCommit.slice(0, 8)}\`, the table above) measures ${cpu(current, 1)} for a lone peer and ${cpu(current, 10)} per peer at N = 10; where this analysis disagrees with it, the table is right.`
  return [
    `**Analysis written at commit \`${commit}\` (issue 12), not updated since.** It describes the idle run of that commit${at.run.gitDirty ? ' (with uncommitted changes)' : ''} (${at.run.date.slice(0, 16).replace('T', ' ')} UTC, kept in \`bench/results/at-issue-12/idle.json\`): a lone peer used ${cpu(at, 1)} and a peer at N = 10 ${cpu(at, 10)}.${now} The profile figures in it were measured by hand at that commit (the commands are named) and are in no result file.`,
    '',
    'Where an idle peer\'s CPU goes after SWIM. The old design\'s cost grew with N (every peer published a signed announcement every second and every peer verified every one; gossipsub heartbeat; libp2p\'s connection monitor). Now a peer sends one probe per 500 ms period and answers about as many, whatever N is, so the figure is flat from N = 5 to N = 20 — but not yet at the 5 ms/s target:',
    `- Measured by hand at \`${commit}\`: a probe exchange over the long-lived membership stream cost 0.47 ms of CPU for both sides together when run back to back (2,000 in a loop, one process; 2.2 ms with a stream per probe). At 2 probes a second the code stays cold: \`perf record -F 4999 -g\` on an N = 10 member (20 s, \`--perf-basic-prof\`) showed ~23 ms/s (under the profiler) with 4.5 requests in and 4.5 out per second, spread over the libp2p stack (yamux, noise, it-length-prefixed), zod, timers and abort signals in baseline-compiled code, and ~25 % in V8\'s concurrent marking.`,
    `- A lone peer does none of that (${cpu(at, 1)} in that run). Halving the probe rate (memberlist\'s 1 s) would roughly halve the N ≥ 5 figure, but the SIGSTOP bound (routed around within 3 s; the sigstop e2e test took 1.3–1.6 s at \`${commit}\`, by hand) would sit at its edge, so the 500 ms period stays. The next steps were issue 15\'s: a hand-written frame path instead of zod and it-length-prefixed per message, fewer allocations per exchange.`
  ].join('\n')
}

function idleSection (after: ResultFile | undefined, before: ResultFile | undefined): string {
  const runs = [{ label: 'before', r: before }, { label: 'after', r: after }].filter((x): x is { label: string, r: ResultFile } => x.r != null)
  if (runs.length === 0) return ''
  const rowsOf = (r: ResultFile): IdleRow[] => ((r.data as any)?.rows ?? []) as IdleRow[]
  const sizes = [...new Set(runs.flatMap(x => rowsOf(x.r).map(row => row.n)))].sort((a, b) => a - b)
  const both = runs.length > 1
  /** One cell: the runs' values joined by →, `–` where a run has no row for that N. */
  const cell = (n: number, f: (row: IdleRow, lone: IdleRow | undefined) => string): string =>
    runs.map(({ r }) => {
      const row = rowsOf(r).find(x => x.n === n)
      return row == null ? '–' : f(row, rowsOf(r).find(x => x.n === 1))
    }).join(' → ')
  const times = (a: number, b: number | undefined): string => b == null || !(b > 0) ? '–' : `× ${n2(a / b)}`
  const suffix = both ? ': before → after' : runs[0]?.label === 'before' ? ' (before)' : ''
  const rows = table(
    ['N', `idle CPU per peer ms/s p50 / max${suffix}`, `CPU × lone (p50)${suffix}`, `RSS MB p50 / max${suffix}`, `RSS × lone (p50)${suffix}`, `converged (ms after last ready)${suffix}`, `not alive${suffix}`, `rest of the machine, CPU ms/s${suffix}`],
    sizes.map(n => [
      String(n),
      cell(n, x => `${n2(x.idle_cpu_ms_per_s.p50)} / ${n2(x.idle_cpu_ms_per_s.max)}`),
      cell(n, (x, lone) => times(x.idle_cpu_ms_per_s.p50, lone?.idle_cpu_ms_per_s.p50)),
      cell(n, x => `${n1(x.rss_mb.p50)} / ${n1(x.rss_mb.max)}`),
      cell(n, (x, lone) => times(x.rss_mb.p50, lone?.rss_mb.p50)),
      cell(n, x => x.converged ? n0(x.converge_ms) : `**no** (${x.peers_complete}/${x.n}${(x.peers_started ?? x.n) < x.n ? `; ${x.n - x.peers_started} did not start` : ''})`),
      cell(n, x => `${x.not_alive}${(x.views_unreadable ?? 0) > 0 ? ` (${x.views_unreadable} views unreadable)` : ''}`),
      cell(n, x => n0(x.other_cpu_ms_per_s))
    ])
  )
  // Per-peer figures are a floor once the peers together use (nearly) every core: they wanted more.
  const saturated = runs.flatMap(({ label, r }) => rowsOf(r).map(x => ({ label, n: x.n, total: x.per_peer.idle_cpu_ms_per_s.reduce((s, v) => s + v, 0), of: r.machine.cores * 1000 })))
    .filter(x => x.total >= 0.9 * x.of)
    .map(x => `${x.label}, N = ${x.n}: the peers together used ${n0(x.total)} of the machine's ${n0(x.of)} CPU ms/s`)
  const saturation = saturated.length > 0 ? `Saturated — ${saturated.join('; ')}. There the per-peer figure is a floor (the peers were starved), not what the mesh would cost on a larger machine.` : ''
  // Issue 12's targets: met or missed on the after run; the before run's figures beside them.
  const targetsOf = (r: ResultFile | undefined): ReturnType<typeof idleTargets> => r == null ? [] : idleTargets(rowsOf(r))
  const ta = targetsOf(after)
  const tb = targetsOf(before)
  const whats = [...new Set([...tb, ...ta].map(t => t.what))]
  const targets = whats.length === 0
    ? 'Issue 12 targets: lone peer ≤ 3 ms/s; N = 10 ≤ 5 ms/s per peer and ≤ × 1.5 the lone figure; RSS at N = 10 ≤ × 1.1 the lone figure. Not judged: no run with N = 1.'
    : table(['issue 12 target', '', ...(before != null ? ['before'] : []), 'after', 'after: met?'], whats.map(what => {
      const a = ta.find(t => t.what === what)
      const b = tb.find(t => t.what === what)
      return [what, (a ?? b)?.target ?? '', ...(before != null ? [b?.measured ?? '–'] : []), a?.measured ?? 'not measured yet', a == null ? '–' : a.met ? 'met' : '**missed**']
    }))
  // Reasons with their numbers folded (`ping timed out (# ms)`), so one cause is one entry.
  const folded = (byReason: Record<string, number>): Array<[string, number]> => {
    const m = new Map<string, number>()
    for (const [k, v] of Object.entries(byReason)) m.set(k.replace(/\d+(\.\d+)?/g, '#'), (m.get(k.replace(/\d+(\.\d+)?/g, '#')) ?? 0) + v)
    return [...m.entries()].sort((a, b) => b[1] - a[1])
  }
  const reasons = runs.flatMap(({ label, r }) => rowsOf(r).filter(x => x.not_alive > 0).map(x =>
    [label, String(x.n), folded(x.not_alive_by_reason).slice(0, 5).map(([k, v]) => `${v} × \`${k}\``).join('; ')]))
  const failedStarts = runs.flatMap(({ label, r }) => rowsOf(r).flatMap(x => (x.start_failures ?? []).map(f => [label, String(x.n), `\`${f.replace(/\|/g, '\\|')}\``])))
  const p = (after ?? before)?.params as any
  const ref = (r: ResultFile): string => `\`${r.run.gitCommit.slice(0, 8)}\` (${r.run.date.slice(0, 16).replace('T', ' ')} UTC, ${r.run.mode} run)`
  return [
    `${String(p.topology).charAt(0).toUpperCase()}${String(p.topology).slice(1)}. Peer: \`${p.peer}\`. Per N: wait until every peer lists all N alive (at most ${p.convergeTimeoutMs / 1000} s), ${p.settleMs / 1000} s to settle, then CPU over ${p.windowMs / 1000} s with no requests; × lone = the figure over the same run's N = 1 figure.`,
    runs.map(({ label, r }) => `${label.charAt(0).toUpperCase()}${label.slice(1)}: ${ref(r)}.`).join(' ') + (after == null ? ' No after run yet: `npm run bench:idle`.' : ''),
    rows,
    saturation,
    targets,
    failedStarts.length > 0 ? table(['run', 'N', 'peer that did not start'], failedStarts) : '',
    reasons.length > 0 ? table(['run', 'N', 'not alive at the end of the window, by state: reason (summed over views; every peer was running)'], reasons) : '',
    idleAnalysis(after, readResults('at-issue-12').get('idle.json'))
  ].filter(x => x !== '').join('\n\n')
}

function fuzzSection (r: ResultFile): string {
  const d = r.data as any
  const p = r.params as any
  const statuses = Object.keys(d.statuses).sort()
  const summary = table(
    ['cases', 'statuses seen', 'hangs', 'dropped', 'crashes', 'contract violations', 'normal completions ok / failed', 'peer RSS before → after (max), MB', 'case ms p50 / p99 / max', 'run'],
    [[n0(d.cases), statuses.map(s => `${s}: ${n0(d.statuses[s])}`).join(', '), String(d.hangs), String(d.dropped), String(d.crashes), String(d.violations), `${d.health.ok} / ${d.health.failed}`, `${n1(d.rssMb.before)} → ${n1(d.rssMb.after)} (${n1(d.rssMb.max)})`, `${d.caseMs.p50} / ${d.caseMs.p99} / ${d.caseMs.max}`, `${n1(d.durationMs / 1000)} s`]]
  )
  const targets = Object.keys(d.byTarget).sort()
  const byTarget = table(
    ['what the case hit', ...statuses],
    targets.map(t => [t === 'no route' || t === 'unknown method' ? t : `\`${t}\``, ...statuses.map(s => d.byTarget[t][s] != null ? n0(d.byTarget[t][s]) : '')])
  )
  const problems = (d.problems as string[]).length > 0 ? `\n\nProblems (first ${d.problems.length}):\n\n${(d.problems as string[]).map(x => `- \`${x.replace(/`/g, "'").slice(0, 300)}\``).join('\n')}` : ''
  // Sample i was taken after (i + 1) × healthEvery cases; the last one after the run.
  const samples = (d.rssMb.samples ?? []) as number[]
  const stride = Math.max(1, Math.floor(samples.length / 10))
  const inLoop = Math.floor(d.cases / p.healthEvery)
  const points = samples.flatMap((v, i) => (i + 1) % stride === 0 || i === samples.length - 1 ? [`${i < inLoop ? n0((i + 1) * p.healthEvery) : 'end'}: ${n1(v)}`] : [])
  const heap = (d.heapMb?.samples ?? []) as number[]
  const heapPoints = heap.flatMap((v, i) => (i + 1) % stride === 0 || i === heap.length - 1 ? [`${i < inLoop ? n0((i + 1) * p.healthEvery) : 'end'}: ${n1(v)}`] : [])
  const rssAt = (points.length > 0 ? `\n\nPeer RSS in MB by cases run: ${points.join(' · ')}.` : '') +
    (heapPoints.length > 0 ? `\n\nPeer live heap in MB (after a forced full collection) by cases run — a leak would climb here: ${heapPoints.join(' · ')}.` : '')
  return `${n0(p.cases)} cases, seed ${p.seed}; peer: ${p.peer}. Answers by status, and by what the case aimed at (${n0(d.transportAnswers)} came from Node's HTTP parser before any route):\n\n${summary}\n\n${byTarget}${rssAt}${problems}`
}

const SECTIONS: Record<typeof PARTS[number], { heading: string, render: (r: ResultFile) => string }> = {
  hop: { heading: '1. Hop overhead', render: hopSection },
  stream: { heading: '2. Streaming throughput', render: streamSection },
  routed: { heading: '3. Routed throughput', render: routedSection },
  convergence: { heading: '4. Convergence', render: convergenceSection },
  failure: { heading: '5. Failure detection', render: failureSection },
  startup: { heading: '6. Memory and start-up', render: startupSection },
  embedded: { heading: '7. Embedded tiny model (issue 5, item 4)', render: embeddedSection },
  profile: { heading: '8. Where the routed path spends CPU (profile)', render: profileSection },
  chaos: { heading: '9. Chaos (issue 7): kill -9, restart and SIGSTOP under load', render: chaosSection },
  idle: { heading: '10. Idle cost per peer (issue 12)', render: r => idleSection(r, readResults('before').get('idle.json')) },
  fuzz: { heading: '11. HTTP fuzz (issue 17): random and mutated requests against every route', render: fuzzSection },
  rtt: { heading: '12. Round-trip estimate and new-stream cost (issue 15)', render: rttSection },
  pull: { heading: '13. Models over the mesh (issue 16): `harombe-peer pull`', render: pullSection },
  affinity: { heading: '14. Conversations stay warm (issue 23): routing policy and prompt cache, `npm run bench:affinity`', render: r => affinitySection(r, readResults('before-23').get('affinity.json'), readResults().get('route-decision.json'), readResults('affinity-earlier').get('affinity.json')) },
  embed: { heading: '15. Embeddings through one mesh hop (issue 29)', render: r => embedSection(r, readResults('ab-29')) },
  soak: { heading: '16. Soak (issue 25): memory, descriptors and connections under a mixed workload, `npm run soak`', render: r => soakSection(r, 'bench/soak.svg') },
  memory: { heading: '17. Memory: a lone idle peer and a serving peer under 16 clients (issue 25), `npm run bench:memory`', render: memorySection }
}

function rttSection (r: ResultFile): string {
  const d = r.data as any
  const row = (label: string, s: any): string[] => [label, String(s.p50), String(s.p99), String(s.max), n0(s.n)]
  return table(['what (ms)', 'p50', 'p99', 'max', 'n'], [
    ['membership RTT estimate a→b / b→a (median of recent probes)', `${String(d.meshRttMs['a→b'])} / ${String(d.meshRttMs['b→a'])}`, '', '', ''],
    row('plain TCP echo between two processes', d.tcpEchoMs),
    row('new stream, full negotiation', d.newStreamFullNegotiationMs),
    row('new stream, optimistic (as the completion pool)', d.newStreamOptimisticMs)
  ])
}

function pullSection (r: ResultFile): string {
  const d = r.data as any
  const rows: string[][] = []
  if (d.one != null) rows.push(['one source', `${n1(d.one.bytes / 1048576)} MiB`, `${d.one.pull_mb_s} MB/s`, `node:net copy ${d.one.tcp_mb_s} MB/s (× ${d.one.ratio})`])
  if (d.three != null) rows.push(['three sources, each limited', `${n1(d.three.bytes / 1048576)} MiB`, `${d.three.three_mb_s} MB/s`, `one limited source ${d.three.one_mb_s} MB/s (× ${d.three.speedup}); chunks per source ${(d.three.sources as Array<[string, number]>).map(([n, c]) => `${n} ${c}`).join(', ')}`])
  if (d.resume != null) rows.push(['resume after kill -9 at 50 %', `${n1(d.resume.bytes / 1048576)} MiB`, `rerun moved ${Math.round(d.resume.rerun_fraction * 1000) / 10} %`, `${n1(d.resume.resumed_bytes / 1048576)} MiB kept from the partial file`])
  if (d.startup != null) rows.push(['start with a 2 GiB file to hash', '', `ready ${d.startup.with_2gib_ready_ms} ms`, `empty models dir ${d.startup.empty_ready_ms} ms; still hashing at ready: ${String(d.startup.still_hashing_at_ready)}`])
  return table(['case', 'size', 'measured', 'compared with'], rows)
}

/** Convergence p50 with a min–max bar per N, and the 1.5 s target as a dashed line. Plain SVG, no dependency. */
export function convergenceSvg (r: ResultFile): string {
  const p = r.params as any
  const all = (r.data as any).byN as any[]
  const byN = all.filter(b => Number.isFinite(b.convergenceMs.p50))
  const never = all.filter(b => !Number.isFinite(b.convergenceMs.p50))
  const W = 560
  const H = 320
  const m = { l: 64, r: 24, t: 36, b: 48 }
  const maxN = Math.max(20, ...all.map(b => b.n))
  const maxMs = Math.max(1_500, ...byN.map(b => b.convergenceMs.max), never.length > 0 ? p.timeoutMs : 0) * 1.15
  // One decimal is finer than a pixel; longer numbers only bloat the file.
  const x = (n: number): string => (m.l + (n / maxN) * (W - m.l - m.r)).toFixed(1)
  const y = (ms: number): string => (H - m.b - (ms / maxMs) * (H - m.t - m.b)).toFixed(1)
  const dx = (n: number, d: number): string => (Number(x(n)) + d).toFixed(1)
  const dy = (ms: number, d: number): string => (Number(y(ms)) + d).toFixed(1)
  const step = maxMs > 12_000 ? 5_000 : maxMs > 6_000 ? 2_000 : maxMs > 3_000 ? 1_000 : 500
  const ticks: string[] = []
  for (let v = 0; v <= maxMs; v += step) {
    ticks.push(`<line x1="${m.l}" y1="${y(v)}" x2="${W - m.r}" y2="${y(v)}" stroke="#e5e5e5"/><text x="${m.l - 8}" y="${dy(v, 4)}" text-anchor="end">${(v / 1000).toFixed(step < 1_000 ? 1 : 0)}</text>`)
  }
  const xTicks = [0, 5, 10, 15, 20, ...all.map(b => b.n)].filter((v, i, a) => v <= maxN && a.indexOf(v) === i)
    .map(n => `<line x1="${x(n)}" y1="${H - m.b}" x2="${x(n)}" y2="${H - m.b + 5}" stroke="#333"/><text x="${x(n)}" y="${H - m.b + 19}" text-anchor="middle">${n}</text>`)
  const bars = byN.map(b => `<line x1="${x(b.n)}" y1="${y(b.convergenceMs.min)}" x2="${x(b.n)}" y2="${y(b.convergenceMs.max)}" stroke="#1f77b4" stroke-width="2"/>` +
    `<line x1="${dx(b.n, -6)}" y1="${y(b.convergenceMs.min)}" x2="${dx(b.n, 6)}" y2="${y(b.convergenceMs.min)}" stroke="#1f77b4" stroke-width="2"/>` +
    `<line x1="${dx(b.n, -6)}" y1="${y(b.convergenceMs.max)}" x2="${dx(b.n, 6)}" y2="${y(b.convergenceMs.max)}" stroke="#1f77b4" stroke-width="2"/>`)
  const line = byN.map(b => `${x(b.n)},${y(b.convergenceMs.p50)}`).join(' ')
  // Labels near the right edge go to the left of their point, so they stay inside the image.
  const label = (b: any): string => {
    const left = Number(x(b.n)) > W - 170
    const at = (d: number): string => `x="${dx(b.n, left ? -9 : 9)}" text-anchor="${left ? 'end' : 'start'}" y="${dy(b.convergenceMs.p50, d)}"`
    const main = `<text ${at(-7)}>${(b.convergenceMs.p50 / 1000).toFixed(2)} s</text>`
    return b.notConverged > 0 ? `${main}<text ${at(20)} fill="#d62728">${b.notConverged} of ${b.rounds} rounds: not within ${p.timeoutMs / 1000} s</text>` : main
  }
  const dots = byN.map(b => `<circle cx="${x(b.n)}" cy="${y(b.convergenceMs.p50)}" r="4.5" fill="#1f77b4"/>${label(b)}`)
  // A size that never converged: a red cross at the timeout line, labelled.
  const crosses = never.map(b => `<path d="M${dx(b.n, -6)} ${dy(p.timeoutMs, -6)} L${dx(b.n, 6)} ${dy(p.timeoutMs, 6)} M${dx(b.n, -6)} ${dy(p.timeoutMs, 6)} L${dx(b.n, 6)} ${dy(p.timeoutMs, -6)}" stroke="#d62728" stroke-width="2.5"/><text x="${dx(b.n, -10)}" y="${dy(p.timeoutMs, 22)}" text-anchor="end" fill="#d62728">N = ${b.n}: not converged within ${p.timeoutMs / 1000} s (${b.rounds}/${b.rounds} rounds)</text>`)
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12" fill="#333">
<title>Convergence time vs number of peers (from bench/results/${r.run.mode === 'quick' ? 'convergence.quick.json' : 'convergence.json'})</title>
<rect width="${W}" height="${H}" fill="#fff"/>
<text x="${W / 2}" y="20" text-anchor="middle" font-size="14">Convergence after the last ready line (median, min–max over rounds)</text>
${ticks.join('\n')}
<line x1="${m.l}" y1="${y(1_500)}" x2="${W - m.r}" y2="${y(1_500)}" stroke="#d62728" stroke-dasharray="6 4"/>
<text x="${W - m.r}" y="${dy(1_500, -6)}" text-anchor="end" fill="#d62728">target 1.5 s at N = 20</text>
<line x1="${m.l}" y1="${H - m.b}" x2="${W - m.r}" y2="${H - m.b}" stroke="#333"/>
<line x1="${m.l}" y1="${m.t}" x2="${m.l}" y2="${H - m.b}" stroke="#333"/>
${xTicks.join('\n')}
${bars.join('\n')}
<polyline points="${line}" fill="none" stroke="#1f77b4" stroke-width="2"/>
${dots.join('\n')}
${crosses.join('\n')}
<text x="${(m.l + W - m.r) / 2}" y="${H - 10}" text-anchor="middle">peers (N)</text>
<text x="16" y="${(m.t + H - m.b) / 2}" text-anchor="middle" transform="rotate(-90 16 ${(m.t + H - m.b) / 2})">seconds</text>
</svg>
`
}

export function renderReport (): string {
  const results = readResults()
  const out: string[] = []
  out.push('# Benchmarks')
  out.push('')
  out.push('<!-- Generated by scripts/bench/report.ts from bench/results/*.json. Do not edit: rerun `npm run bench` or `tsx scripts/bench/report.ts`. -->')
  out.push('')
  out.push('What a mesh hop costs, how fast the cluster converges and heals, and what a peer costs to run. Every figure on this page is read from a result file in `bench/results/` by `scripts/bench/report.ts`; each section names its file, the command and the date. Paths that are compared ran side by side in the same run (interleaved), because this machine is shared and noisy: read ratios and added milliseconds rather than absolute figures.')
  out.push('')
  out.push('Run: `npm run bench` (everything), `npm run bench:quick` (smaller samples), or one part: `npm run bench:hop`, `bench:stream`, `bench:routed`, `bench:convergence`, `bench:failure`, `bench:startup`, `bench:embedded`, `bench:profile`, `bench:idle`, `bench:fuzz`, `bench:rtt`, `bench:memory`, `bench:pull` (section 13, not part of `npm run bench`: it moves a few GiB); the chaos test (section 9) is `npm run chaos`, the soak (section 16) `npm run soak -- --minutes 60`; two builds\' idle cost over one shared window (issue 24\'s section) `npx tsx scripts/bench/idle-side-by-side.ts --before <other checkout, built>`. `npm run bench:report` only re-renders this page. Everything runs on 127.0.0.1; every part is bounded in time and request count, and each section\'s source line gives how long its part took.')
  out.push('')

  const chosen = PARTS.map(part => ({ part, picked: pick(results, part) })).filter(x => x.picked != null) as Array<{ part: typeof PARTS[number], picked: { r: ResultFile, file: string } }>
  if (chosen.length === 0) {
    out.push('No result files yet: run `npm run bench`.')
  } else {
    out.push('## Machine and runs')
    out.push('')
    out.push(table(
      ['part', 'result file', 'date (UTC)', 'CPU', 'cores', 'Node', 'load avg start → end', 'git commit', 'CLI ran'],
      chosen.map(({ part, picked: { r, file } }) => [part, `\`${file}\``, r.run.date.slice(0, 19).replace('T', ' '), r.machine.cpuModel, String(r.machine.cores), r.machine.node, `${r.machine.loadAvgStart} → ${r.machine.loadAvgEnd}`, `\`${r.run.gitCommit.slice(0, 10)}\`${r.run.gitDirty ? ' + uncommitted changes' : ''}`, String((r.params as any).cliRuntime ?? '–')])
    ))
    out.push('')
    out.push('A load average above the core count means other work shared the machine during the run.')
    out.push('')
    out.push('## Targets')
    out.push('')
    const targetRows = chosen.flatMap(({ part, picked: { r } }) => r.targets.map(t => [part, t.what, t.target, t.measured, t.met ? 'met' : '**missed**']))
    out.push(targetRows.length > 0 ? table(['part', 'what', 'target', 'measured', ''], targetRows) : 'No targets recorded.')
    out.push('')
    const lines = highlights(results)
    if (lines.length > 0) {
      out.push('## In short')
      out.push('')
      out.push(lines.map(l => `- ${l}`).join('\n'))
      out.push('')
    }
    for (const { part, picked: { r, file } } of chosen) {
      const section = SECTIONS[part]
      out.push(`## ${section.heading}`)
      out.push('')
      out.push(section.render(r))
      out.push('')
      const n = notes(r)
      if (n !== '') {
        out.push(n)
        out.push('')
      }
      out.push(source(r, file))
      out.push('')
    }
    // The idle "before" can exist before any "after" run: show it alone rather than not at all.
    const idleBefore = readResults('before').get('idle.json')
    if (pick(results, 'idle') == null && idleBefore != null) {
      out.push(`## ${SECTIONS.idle.heading}`)
      out.push('')
      out.push(idleSection(undefined, idleBefore))
      out.push('')
      if (notes(idleBefore) !== '') out.push(notes(idleBefore), '')
      out.push(source(idleBefore, 'before/idle.json'))
      out.push('')
    }
    // The affinity "before" (issue 23) is kept before any "after" run exists: shown alone until then.
    const before23 = readResults('before-23').get('affinity.json')
    if (pick(results, 'affinity') == null && before23 != null) {
      out.push(`## ${SECTIONS.affinity.heading}`, '', affinitySection(undefined, before23, results.get('route-decision.json')), '')
      if (notes(before23) !== '') out.push(notes(before23), '')
      out.push(source(before23, 'before-23/affinity.json'), '')
    }
    const quick = PARTS.map(part => ({ part, file: `${part}.quick.json`, r: results.get(`${part}.quick.json`) })).filter(x => x.r != null && results.has(`${x.part}.json`)) as Array<{ part: string, file: string, r: ResultFile }>
    if (quick.length > 0) {
      out.push('## Latest quick run (`npm run bench:quick`)')
      out.push('')
      out.push('Smaller samples, for a fast check; the sections above use the full run where there is one.')
      out.push('')
      out.push(table(['part', 'file', 'date (UTC)', 'targets (measured)'], quick.map(({ part, file, r }) => [
        part,
        `\`${file}\``,
        r.run.date.slice(0, 19).replace('T', ' '),
        r.targets.length > 0 ? r.targets.map(t => `${t.what}: ${t.measured} (${t.met ? 'met' : 'missed'})`).join('; ') : headline(part, r)
      ])))
      out.push('')
    }
  }
  const comparison = beforeAfter(results, readResults('before'))
  if (comparison !== '') out.push(comparison)
  const issue15 = issue15Section(results, readResults('before-15'))
  if (issue15 !== '') out.push(issue15)
  const issue24 = issue24Section(readResults('after-24'), readResults('before-24'))
  if (issue24 !== '') out.push(issue24)
  const conv = pick(results, 'convergence')
  if (conv != null) writeFileSync(SVG, convergenceSvg(conv.r))
  const affinity = pick(results, 'affinity')?.r
  const affinityBefore = readResults('before-23').get('affinity.json')
  if (affinity != null || affinityBefore != null) writeFileSync(AFFINITY_SVG, affinitySvg(affinity, affinityBefore))
  const soak = pick(results, 'soak')
  if (soak != null) writeFileSync(SOAK_SVG, soakSvg(soak.r, soak.file))
  writeFileSync(OUT, out.join('\n'))
  // The simulator's section (scripts/sim/report.ts) lives between its own markers at the end.
  if (readResults().has('membership-sim.json')) updateBenchmarks()
  return OUT
}

/**
 * Before/after of the profiling-driven changes: `bench/results/before/` keeps the result files
 * of the run before them, the current files are the run after. Both are committed.
 */
function beforeAfter (after: Map<string, ResultFile>, before: Map<string, ResultFile>): string {
  const rows: string[][] = []
  const ref = (r: ResultFile): string => `\`${r.run.gitCommit.slice(0, 8)}\` ${r.run.date.slice(0, 16).replace('T', ' ')}`
  const routedBefore = before.get('routed.json')
  const routedAfter = after.get('routed.json')
  if (routedBefore != null && routedAfter != null) {
    const rowsOf = (r: ResultFile): any[] => (r.data as any).rows.filter((x: any) => x.target === 'mesh')
    for (const b of rowsOf(routedBefore)) {
      const a = rowsOf(routedAfter).find((x: any) => x.concurrency === b.concurrency)
      if (a == null) continue
      rows.push([`routed req/s through the mesh, ${b.concurrency} clients`, `${n0(b.perSecond)} (p50 ${n1(b.latencyMs.p50)} ms)`, `${n0(a.perSecond)} (p50 ${n1(a.latencyMs.p50)} ms)`, `× ${n2(a.perSecond / b.perSecond)}`, `${ref(routedBefore)} → ${ref(routedAfter)}`])
    }
  }
  const convBefore = before.get('convergence.json')
  const convAfter = after.get('convergence.json')
  if (convBefore != null && convAfter != null) {
    for (const b of (convBefore.data as any).byN) {
      const a = (convAfter.data as any).byN.find((x: any) => x.n === b.n)
      if (a == null) continue
      const show = (x: any): string => `median ${x.convergenceMs.p50 == null ? '–' : n0(x.convergenceMs.p50) + ' ms'}, ${x.notConverged}/${x.rounds} rounds not converged`
      rows.push([`convergence at N = ${b.n}`, show(b), show(a), '', `${ref(convBefore)} → ${ref(convAfter)}`])
    }
  }
  if (rows.length === 0) return ''
  return [
    '## Before and after the profiling fixes',
    '',
    `The profile of the routed path (section 8) and of idle peers pointed at: a new libp2p stream per request (a multistream negotiation and a peer-store write under a per-peer lock on the serving side); a false "dead" when the failure detector\'s ping collided with libp2p\'s connection monitor (ping allowed one outbound stream per connection); gossipsub verifying the signature of every duplicate copy of an announcement; a peer-store write on every load update. Fixed in order: sequential stream reuse (pool of 8 idle streams per peer), then a pool of 64, ping stream limit 8, \`fastMsgIdFn\` dedupe before signature checks, and addresses stored only when they change. Same commands; ${sameMachine(before, after, ['routed.json', 'convergence.json']) ? 'same machine' : '**not all on the same machine** (see the machine table at the top and the files)'}; the "before" files are in \`bench/results/before/\`.`,
    '',
    table(['what', 'before', 'after', 'ratio', 'runs'], rows),
    '',
    '- The routed "before" run already had sequential stream reuse with a pool of 8 (no result file was kept from before any reuse). The "after" column is the current result files, not the run right after these fixes: it carries every change made since (issue 15\'s among them), so its ratios are not the profiling fixes\' alone.',
    convergenceNote(convAfter),
    ''
  ].join('\n')
}

/** Whether the named result files, before and after, all ran on one kind of machine (CPU model and cores). */
function sameMachine (before: Map<string, ResultFile>, after: Map<string, ResultFile>, files: string[]): boolean {
  const runs = files.flatMap(f => [before.get(f), after.get(f)]).filter((r): r is ResultFile => r != null)
  return new Set(runs.map(r => `${r.machine.cpuModel} × ${r.machine.cores}`)).size <= 1
}

/** Whether convergence at N = 20 meets its target in the current run, as that run judged it. */
function convergenceNote (conv: ResultFile | undefined): string {
  const t = conv?.targets.find(x => x.what.startsWith('convergence at N = 20'))
  if (conv == null || t == null) return ''
  if (t.met) return `- Convergence at N = 20 meets its target in the current run (${t.measured}, target ${t.target}; section 4).`
  return `- Convergence at N = 20 misses its target in the current run (${t.measured}, target ${t.target}): twenty peer processes starting together saturate both cores for the whole start wave (section 4 gives its length and section 6 the start-up cost of one peer); see the notes in section 4.`
}

/** The figures a reader wants first, each computed from a result file (full run preferred). */
function highlights (results: Map<string, ResultFile>): string[] {
  const out: string[] = []
  const hop = pick(results, 'hop')?.r.data as any
  if (hop != null) {
    const c = hop.comparisons['hop vs peer (the mesh hop alone)']
    const d = hop.comparisons['peer vs direct']
    out.push(`A peer's own API adds ${signed(d.ttftP50Ms)} ms to the median time to first token of a short streamed completion; one mesh hop adds ${signed(c.ttftP50Ms)} ms more (p99 ${signed(c.ttftP99Ms)} ms).`)
  }
  const routed = pick(results, 'routed')?.r.data as any
  if (routed != null) {
    const at = (key: string, c: number): any => routed.rows.find((x: any) => x.target === key && x.concurrency === c)
    const m = at('mesh', 64)
    const x = at('proxy', 64)
    if (m != null && x != null) {
      out.push(`Routed through one peer, 64 clients complete ${n0(m.perSecond)} short requests/s against ${n0(x.perSecond)}/s through a plain Node reverse proxy (× ${n2(m.perSecond / x.perSecond)}). Per request the entry peer uses ${n2(m.cpuMsPerRequest?.entry)} ms of CPU and the serving peers ${n2(m.cpuMsPerRequest?.serving)} ms, against ${n2(x.cpuMsPerRequest?.entry)} ms for the proxy and ${n2(x.cpuMsPerRequest?.serving)} ms for the servers.`)
    }
  }
  const conv = pick(results, 'convergence')?.r.data as any
  if (conv != null) {
    const parts = (conv.byN as any[]).map(b => {
      const converged = b.rounds - b.notConverged
      const time = !Number.isFinite(b.convergenceMs.p50) ? '' : converged > 1 ? `, median ${n2(b.convergenceMs.p50 / 1000)} s` : ` (${n2(b.convergenceMs.p50 / 1000)} s)`
      return `N = ${b.n}: ${converged}/${b.rounds} rounds converged${time}, idle CPU ${n0(b.idleCpuMsPerSecond?.p50)} ms/s per peer`
    })
    out.push(`Convergence — ${parts.join('; ')}.`)
  }
  const idle = ((pick(results, 'idle')?.r.data as any)?.rows ?? []) as IdleRow[]
  const lone = idle.find(x => x.n === 1)
  const ten = idle.find(x => x.n === 10)
  if (lone != null && ten != null) {
    out.push(`Idle, no requests: a lone peer uses ${n2(lone.idle_cpu_ms_per_s.p50)} ms of CPU per second; with 10 peers each uses ${n2(ten.idle_cpu_ms_per_s.p50)} ms/s (× ${n2(ten.idle_cpu_ms_per_s.p50 / lone.idle_cpu_ms_per_s.p50)}) and ${n1(ten.rss_mb.p50)} MB RSS (× ${n2(ten.rss_mb.p50 / lone.rss_mb.p50)}).`)
  }
  const failure = pick(results, 'failure')?.r.data as any
  if (failure != null) {
    out.push(`After kill -9 of a serving peer under load, every other peer stopped routing to it within ${n0(failure.noPeerRoutesMs.max)} ms (worst of ${failure.trials.length} trials); ${failure.otherFailures} client-visible failures besides ${failure.committedToVictim} stream(s) already committed to the killed peer.`)
  }
  const chaos = pick(results, 'chaos')?.r
  if (chaos != null) {
    const d = chaos.data as any
    out.push(`Chaos (${(chaos.params as any).durationS} s, seed ${(chaos.params as any).seed}): ${n0(d.totals.sent)} requests under kill -9, restart and SIGSTOP of serving peers; ${n0(d.totals.completed)} completed, ${n0(d.totals.cleanError)} clean error(s), ${d.totals.hung} hung, ${d.totals.truncated} truncated without an error; ${n2(d.successWithCandidatePct)} % success while a serving peer was up.`)
  }
  const fuzz = pick(results, 'fuzz')?.r.data as any
  if (fuzz != null) {
    out.push(`HTTP fuzz: ${n0(fuzz.cases)} random and mutated requests to every route of one peer; ${fuzz.hangs} hung, ${fuzz.dropped} dropped, ${fuzz.crashes} crashes, ${fuzz.violations} answers outside the documented statuses and formats; its RSS went ${n1(fuzz.rssMb.before)} → ${n1(fuzz.rssMb.after)} MB.`)
  }
  const startup = pick(results, 'startup')?.r.data as any
  if (startup != null) {
    const g = startup.dist ?? startup.tsx
    out.push(`A routing-only peer starts in ${n0(g.startToReadyMs.p50)} ms (median, ${startup.dist != null ? 'dist/' : 'tsx'}) and idles at ${n1(g.idleRssMb.p50)} MB RSS.`)
  }
  const emb = pick(results, 'embedded')?.r.data as any
  if (emb != null) {
    const rate = (k: string): number => emb.paths.find((x: any) => x.key === k)?.tokensPerSecond.p50
    out.push(`The embedded tiny model streams ${n0(rate('direct'))} tok/s in-process, ${n0(rate('peer'))} tok/s through its peer's API and ${n0(rate('hop'))} tok/s through one mesh hop (medians).`)
  }
  const soak = pick(results, 'soak')?.r
  if (soak != null) out.push(soakHighlight(soak))
  return out
}

/** One line for a part without targets, for the quick-run table. */
function headline (part: string, r: ResultFile): string {
  const d = r.data as any
  if (part === 'hop') {
    const c = d.comparisons['hop vs peer (the mesh hop alone)']
    return `mesh hop adds ${signed(c.ttftP50Ms)} ms TTFT p50, ${signed(c.totalP50Ms)} ms total p50`
  }
  if (part === 'convergence') return (d.byN as any[]).map(b => `N = ${b.n}: ${b.rounds - b.notConverged}/${b.rounds} converged${Number.isFinite(b.convergenceMs.p50) ? ` (${n0(b.convergenceMs.p50)} ms)` : ''}`).join('; ')
  if (part === 'embedded') return `tok/s p50: ${d.paths.map((p: any) => `${p.key} ${n0(p.tokensPerSecond.p50)}`).join(', ')}`
  if (part === 'idle') return ((d?.rows ?? []) as IdleRow[]).map(x => `N = ${x.n}: ${n2(x.idle_cpu_ms_per_s.p50)} ms/s, ${n1(x.rss_mb.p50)} MB${x.converged ? '' : ' (not converged)'}`).join('; ')
  if (part === 'profile') return `${n0(d.perSecondUnderProfiler)} req/s under the profiler; CPU per request: entry peer ${n2(d.cpuMsPerRequest?.entry)} ms, serving peer ${n2(d.cpuMsPerRequest?.serving)} ms`
  return '–'
}

if (process.argv[1] != null && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.stderr.write(`wrote ${renderReport()}\n`)
}
