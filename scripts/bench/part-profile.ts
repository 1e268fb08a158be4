// Where the routed path spends its CPU: the load of the routed part (64 clients, short
// non-streamed requests) through an entry peer to one serving peer, both under `--cpu-prof`,
// summarised by package and function. Evidence for whoever optimises src/; nothing is changed.
import { mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { tmpdir } from 'node:os'
import { chat, runLoad, type ChatOutcome } from './client.js'
import { hasAlive, MODEL_INPROC, waitForView, type Part } from './context.js'
import { note, status } from './progress.js'
import { cpuMs, spawnBenchPeer } from './procs.js'
import { round } from './stats.js'
import { summarizeProfile } from './profile-summary.js'

const CONCURRENCY = 64

/** The monotonic clock in µs, the one V8 stamps profile samples with (shared by all processes). */
const nowUs = (): number => Number(process.hrtime.bigint() / 1000n)
const SHORT_TOKENS = 16

export const profilePart: Part = {
  name: 'profile',
  title: 'CPU profile of the routed path (entry peer and serving peer)',
  async run (ctx) {
    const durationMs = ctx.quick ? 2_000 : 5_000
    const dir = mkdtempSync(join(tmpdir(), 'harombe-bench-prof-'))
    try {
      const flags = (who: string): string[] => ['--cpu-prof', `--cpu-prof-dir=${join(dir, who)}`]
      status('starting a profiled serving peer and a profiled entry peer')
      const serving = ctx.track(await spawnBenchPeer({ name: 'prof-serve', dataDir: ctx.dataDir('prof-serve'), synthetic: {} }, flags('serving')))
      const entry = ctx.track(await spawnBenchPeer({ name: 'prof-entry', dataDir: ctx.dataDir('prof-entry'), bootstrap: serving.peer.mesh }, flags('entry')))
      await waitForView(entry.peer.api, v => hasAlive(v, 'prof-serve', MODEL_INPROC), 20_000)
      const endpoint = `${entry.peer.api}/v1/chat/completions`
      await chat(endpoint, { stream: false, maxTokens: SHORT_TOKENS, model: MODEL_INPROC })
      const issue = async (): Promise<ChatOutcome> => await chat(endpoint, { stream: false, maxTokens: SHORT_TOKENS, model: MODEL_INPROC })
      status('warm-up')
      await runLoad({ concurrency: CONCURRENCY, durationMs: 500, maxRequests: 50_000, issue })
      // Only samples taken during the measured load count: start-up (module loading through
      // tsx) and shutdown would otherwise dominate the profile.
      const fromUs = nowUs()
      const cpuBefore = [cpuMs(entry.pid), cpuMs(serving.pid)]
      const load = await runLoad({
        concurrency: CONCURRENCY,
        durationMs,
        maxRequests: 50_000,
        issue,
        onProgress: done => { status(`${CONCURRENCY} clients: ${done} requests`) }
      })
      const toUs = nowUs()
      const cpuAfter = [cpuMs(entry.pid), cpuMs(serving.pid)]
      // Measured CPU (from /proc) per request: the profile's busy time also counts time spent
      // runnable but waiting for a core, which on a shared 2-core machine is not small.
      const procCpu = {
        entry: round(((cpuAfter[0] as number) - (cpuBefore[0] as number)) / Math.max(1, load.completed), 3),
        serving: round(((cpuAfter[1] as number) - (cpuBefore[1] as number)) / Math.max(1, load.completed), 3)
      }
      status('stopping the peers (profiles are written on exit)')
      // Graceful stop: a profile is only written when the process exits normally.
      await Promise.all([entry.stop(10_000), serving.stop(10_000)])
      const summaries = Object.fromEntries(['entry', 'serving'].map(who => {
        const files = readdirSync(join(dir, who)).filter(f => f.endsWith('.cpuprofile')).map(f => join(dir, who, f))
        // The main thread's profile is the largest; worker threads (if any) write their own.
        const main = files.map(f => ({ f, s: summarizeProfile(f, 20, { fromUs, toUs }) })).sort((a, b) => (b.s.totalMs - b.s.idleMs) - (a.s.totalMs - a.s.idleMs))[0]
        if (main == null) return [who, null]
        const { file: _file, ...rest } = main.s
        return [who, rest]
      }))
      note(`${Math.round(load.perSecond)} req/s under the profiler; CPU per request (from /proc): entry peer ${procCpu.entry} ms, serving peer ${procCpu.serving} ms`)
      return {
        title: this.title,
        params: { concurrency: CONCURRENCY, durationMs, maxTokens: SHORT_TOKENS, stream: false, backend: 'synthetic, zero cost', profiler: 'node --cpu-prof (V8 sampling profiler, 1 ms interval by default)' },
        data: {
          requests: load.completed,
          failed: load.failed,
          perSecondUnderProfiler: round(load.perSecond, 1),
          cpuMsPerRequest: procCpu,
          profiles: summaries
        },
        targets: [],
        notes: [
          'Only samples taken during the measured load are counted (start-up and shutdown excluded). The profile\'s busy time (window minus idle) also counts time a process was runnable but waiting for a core; the CPU per request from /proc (user + system) is the real cost.',
          'Shares are of busy (non-idle) time. Native and Node-internal work (socket writes, crypto, streams) is charged to the nearest package on its stack; "(node internals)" had none (event loop, microtask queue), "(gc)" is garbage collection. Async continuations have no caller on their stack, so "most frequent caller" lists only synchronous call sites.'
        ]
      }
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  }
}
