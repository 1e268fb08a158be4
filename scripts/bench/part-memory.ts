// Memory (issue 25): what a peer costs in RSS, (1) alone and idle, (2) serving under 16 clients.
// Side by side in one run: the "before" build (a commit, default BEFORE_REF: main before the
// issue's memory work, extracted with `git archive` and built in a scratch directory) and this
// tree, interleaved round by round, so the shared machine's load hits both alike.
//
// (1) `harombe-peer start --backend none`, alone; RSS from /proc after SETTLE_MS, the median of
//     five reads a second apart.
// Three variants: "before", this tree with node's defaults, and this tree with PEER_NODE_FLAGS
// (how `service install` and `npm start` run a peer).
// (2) The issue's setup: 16 closed-loop clients → an entry peer (`--backend none`) → a serving peer
//     (`--backend openai`) in front of the synthetic OpenAI-compatible server; every other request
//     streamed, every eighth stream closed by its client at the first token. Both peers' RSS read
//     every SAMPLE_MS through the window; the serving peer's peak is the figure the target names.
import { execFileSync, execSync } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { chat, type ChatOutcome } from './client.js'
import { hasAlive, sleep, waitForView, type BenchContext, type Part, type PeerProc } from './context.js'
import { note, status } from './progress.js'
import { cpuMs, PEER_BIN, REPO_ROOT, rssMb, spawnCliPeer, spawnScript } from './procs.js'
import type { Target } from './results.js'
import { round, summarize } from './stats.js'
import { PEER_NODE_FLAGS } from '../../src/cli/node-flags.js'

/** main at 48951c7 (the bounded-structure registry, before this issue's leak and memory work). Override: HAROMBE_BENCH_BEFORE=<ref>. */
export const BEFORE_REF = '48951c7'

const IDLE_TARGET_MB = 70
const SERVING_TARGET_MB = 150
const CLIENTS = 16
const MODEL = 'synthetic-via-http'
/** Short answers, streamed over ~100 ms at the synthetic server's pace, so a cancel lands mid-answer. */
const MAX_TOKENS = 32
const SERVER_ARGS = ['--model', MODEL, '--tps', '400', '--ttft', '20']
/** After the ready line: start-up garbage collected (at 8 s some runs of either build still read ~10 MB higher), timers in their rhythm. */
const SETTLE_MS = 20_000
const SETTLE_MS_QUICK = 4_000
const SAMPLE_MS = 250
const WINDOW_MS = 30_000
const WINDOW_MS_QUICK = 8_000
const WARMUP_MS = 3_000

interface Variant { key: string, label: string, bin: string, nodeFlags: string[] }

export interface IdleSample { variant: string, round: number, rss_mb: number }

export interface ServingSample {
  variant: string
  round: number
  completed: number
  cancelled: number
  failed: number
  per_second: number
  serving_rss_mb: { start: number, p50: number, max: number }
  entry_rss_mb: { p50: number, max: number }
  /** CPU (user + system, /proc) per answered request over the window: what a leaner heap may cost. */
  cpu_ms_per_request: { serving: number, entry: number }
  errors: string[]
}

/** Extracts `ref` (git archive) into a scratch directory, links node_modules and builds dist/ there. */
function buildCheckout (ref: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'harombe-before-'))
  execSync(`git archive ${ref} | tar -x -C ${dir}`, { cwd: REPO_ROOT, stdio: ['ignore', 'ignore', 'pipe'] })
  symlinkSync(join(REPO_ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir')
  execFileSync(process.execPath, [join(dir, 'scripts', 'build.mjs')], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] })
  return dir
}

const median = (v: number[]): number => round(summarize(v).p50, 1)

async function idleOnce (ctx: BenchContext, v: Variant, settleMs: number): Promise<number> {
  const peer = ctx.track(await spawnCliPeer({ name: `idle-${v.key}`, dataDir: ctx.dataDir(`idle-${v.key}`), backend: 'none', bin: v.bin, nodeFlags: v.nodeFlags }))
  try {
    await sleep(settleMs)
    const reads: number[] = []
    for (let i = 0; i < 5; i++) {
      reads.push(rssMb(peer.pid)?.rss ?? NaN)
      await sleep(1_000)
    }
    return median(reads.filter(Number.isFinite))
  } finally {
    await peer.stop()
  }
}

async function servingOnce (ctx: BenchContext, v: Variant, upstream: string, windowMs: number, r: number): Promise<ServingSample> {
  const serving = ctx.track(await spawnCliPeer({ name: `serve-${v.key}-${r}`, dataDir: ctx.dataDir(`serve-${v.key}`), backend: 'openai', backendUrl: upstream, model: MODEL, bin: v.bin, nodeFlags: v.nodeFlags }))
  const entry: PeerProc = ctx.track(await spawnCliPeer({ name: `entry-${v.key}-${r}`, dataDir: ctx.dataDir(`entry-${v.key}`), backend: 'none', bootstrap: serving.peer.mesh, bin: v.bin, nodeFlags: v.nodeFlags }))
  try {
    await waitForView(entry.peer.api, view => hasAlive(view, serving.peer.name, MODEL), 20_000)
    const endpoint = `${entry.peer.api}/v1/chat/completions`
    let n = 0
    const issue = async (): Promise<ChatOutcome> => {
      const i = n++
      const stream = i % 2 === 0
      // Every eighth stream: the 4th, 8th, … of the even-numbered requests.
      const cancel = stream && (i / 2) % 8 === 7
      return await chat(endpoint, { stream, maxTokens: MAX_TOKENS, model: MODEL, cancelAtFirstToken: cancel })
    }
    const loop = async (until: number, out?: ChatOutcome[]): Promise<void> => {
      await Promise.all(Array.from({ length: CLIENTS }, async () => {
        while (performance.now() < until) {
          const o = await issue()
          out?.push(o)
        }
      }))
    }
    await loop(performance.now() + WARMUP_MS)
    const start = rssMb(serving.pid)?.rss ?? NaN
    const servingRss: number[] = []
    const entryRss: number[] = []
    const sampler = setInterval(() => {
      servingRss.push(rssMb(serving.pid)?.rss ?? NaN)
      entryRss.push(rssMb(entry.pid)?.rss ?? NaN)
    }, SAMPLE_MS)
    const outcomes: ChatOutcome[] = []
    const cpuBefore = { serving: cpuMs(serving.pid), entry: cpuMs(entry.pid) }
    const began = performance.now()
    try {
      await loop(began + windowMs, outcomes)
    } finally {
      clearInterval(sampler)
    }
    const elapsed = (performance.now() - began) / 1000
    const answered = outcomes.filter(o => o.ok).length
    const cpuPer = (pid: number, before: number): number => round((cpuMs(pid) - before) / Math.max(1, answered), 2)
    const cpu = { serving: cpuPer(serving.pid, cpuBefore.serving), entry: cpuPer(entry.pid, cpuBefore.entry) }
    const failed = outcomes.filter(o => !o.ok)
    const s = summarize(servingRss.filter(Number.isFinite))
    const e = summarize(entryRss.filter(Number.isFinite))
    return {
      variant: v.key,
      round: r,
      completed: outcomes.filter(o => o.ok && o.cancelled !== true).length,
      cancelled: outcomes.filter(o => o.cancelled === true).length,
      failed: failed.length,
      per_second: round(outcomes.filter(o => o.ok).length / elapsed, 1),
      serving_rss_mb: { start: round(start, 1), p50: round(s.p50, 1), max: round(s.max, 1) },
      entry_rss_mb: { p50: round(e.p50, 1), max: round(e.max, 1) },
      cpu_ms_per_request: cpu,
      errors: [...new Set(failed.map(o => o.error ?? `HTTP ${o.status}`))].slice(0, 5)
    }
  } finally {
    await Promise.all([entry.stop(), serving.stop()])
  }
}

export function memoryTargets (idle: IdleSample[], serving: ServingSample[]): Target[] {
  const after = (k: string): boolean => k === 'after'
  const idleAfter = idle.filter(s => after(s.variant)).map(s => s.rss_mb)
  const servingAfter = serving.filter(s => after(s.variant)).map(s => s.serving_rss_mb.max)
  const targets: Target[] = []
  if (idleAfter.length > 0) {
    const p50 = median(idleAfter)
    targets.push({ what: 'a lone idle peer, RSS (median of rounds)', target: `≤ ${IDLE_TARGET_MB} MB`, measured: `${p50} MB`, met: p50 <= IDLE_TARGET_MB })
  }
  if (servingAfter.length > 0) {
    const worst = Math.max(...servingAfter)
    targets.push({ what: `a serving peer under ${CLIENTS} clients, peak RSS (worst round)`, target: `≤ ${SERVING_TARGET_MB} MB`, measured: `${round(worst, 1)} MB`, met: worst <= SERVING_TARGET_MB })
  }
  return targets
}

export const memoryPart: Part = {
  name: 'memory',
  title: 'Memory: a lone idle peer and a serving peer under 16 clients (issue 25)',
  async run (ctx) {
    const beforeRef = process.env.HAROMBE_BENCH_BEFORE ?? BEFORE_REF
    status(`building the "before" tree (${beforeRef}) in a scratch directory`)
    const beforeDir = buildCheckout(beforeRef)
    const beforeBin = join(beforeDir, 'bin', 'harombe-peer.js')
    if (!existsSync(join(beforeDir, 'dist', '.build-stamp'))) throw new Error(`the build of ${beforeRef} left no dist/`)
    // The middle one tells the two cuts apart: the leaner bundle alone, then with the service's node flags.
    const variants: Variant[] = [
      { key: 'before', label: `before (${beforeRef}), node defaults`, bin: beforeBin, nodeFlags: [] },
      { key: 'after-defaults', label: 'after (this tree), node defaults', bin: PEER_BIN, nodeFlags: [] },
      { key: 'after', label: `after (this tree), ${PEER_NODE_FLAGS.join(' ')} as \`service install\` and \`npm start\` run it`, bin: PEER_BIN, nodeFlags: [...PEER_NODE_FLAGS] }
    ]
    const rounds = ctx.quick ? 1 : 3
    const servingRounds = ctx.quick ? 1 : 2
    const settleMs = ctx.quick ? SETTLE_MS_QUICK : SETTLE_MS
    const windowMs = ctx.quick ? WINDOW_MS_QUICK : WINDOW_MS
    const idle: IdleSample[] = []
    const serving: ServingSample[] = []
    try {
      for (let r = 1; r <= rounds; r++) {
        // Alternate which goes first, so neither always runs on the warmer machine.
        for (const v of r % 2 === 1 ? variants : [...variants].reverse()) {
          status(`idle, round ${r}/${rounds}: ${v.label}`)
          idle.push({ variant: v.key, round: r, rss_mb: await idleOnce(ctx, v, settleMs) })
        }
      }
      const upstream = ctx.track(await spawnScript('synthetic server', 'synthetic-server.ts', SERVER_ARGS))
      for (let r = 1; r <= servingRounds; r++) {
        for (const v of r % 2 === 1 ? variants : [...variants].reverse()) {
          status(`serving under ${CLIENTS} clients, round ${r}/${servingRounds}: ${v.label}`)
          const sample = await servingOnce(ctx, v, upstream.url, windowMs, r)
          note(`${v.key}: serving peer RSS max ${sample.serving_rss_mb.max} MB, ${sample.per_second} req/s, ${sample.failed} failed`)
          serving.push(sample)
        }
      }
      await upstream.stop()
    } finally {
      rmSync(beforeDir, { recursive: true, force: true })
    }
    return {
      title: memoryPart.title,
      params: { beforeRef, rounds, servingRounds, settleMs, windowMs, warmupMs: WARMUP_MS, sampleMs: SAMPLE_MS, clients: CLIENTS, maxTokens: MAX_TOKENS, upstream: `synthetic-server.ts ${SERVER_ARGS.join(' ')}`, variants: variants.map(v => ({ key: v.key, label: v.label, nodeFlags: v.nodeFlags })) },
      data: { idle, serving },
      targets: memoryTargets(idle, serving),
      notes: [
        'RSS from /proc/<pid>/status (VmRSS). Both variants ran in this run, interleaved round by round (the first variant alternates), on the same machine; the load average at the start is in the machine line.',
        'Failed requests exclude the streams the clients closed on purpose at their first token (counted as cancelled).'
      ]
    }
  }
}
