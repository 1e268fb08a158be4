// The benchmark runner: `npm run bench` (all parts), `npm run bench:quick` (all, smaller), or
// `npm run bench:<part>`. Builds dist/ first when it is stale (the CLI runs dist/ only when it is
// fresh, else tsx — slower to start), runs each part on 127.0.0.1, writes
// bench/results/<part>[.quick].json and regenerates BENCHMARKS.md.
//
//   tsx scripts/bench/run.ts [--quick] [--cpu-prof] [part...]
//   parts: hop stream routed convergence failure startup embedded profile idle fuzz rtt route-decision change affinity embed memory
import { execFileSync } from 'node:child_process'
import { mkdirSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { BenchContext, type Part } from './context.js'
import { hopPart } from './part-hop.js'
import { streamPart } from './part-stream.js'
import { routedPart } from './part-routed.js'
import { convergencePart } from './part-convergence.js'
import { failurePart } from './part-failure.js'
import { startupPart } from './part-startup.js'
import { embeddedPart } from './part-embedded.js'
import { profilePart } from './part-profile.js'
import { idlePart } from './part-idle.js'
import { fuzzPart } from './part-fuzz.js'
import { rttPart } from './part-rtt.js'
import { routeDecisionPart } from './part-route-decision.js'
import { changePart } from './part-change.js'
import { affinityPart } from './part-affinity.js'
import { embedPart } from './part-embed.js'
import { memoryPart } from './part-memory.js'
import { beginPart, elapsedSeconds, note, status } from './progress.js'
import { PEER_ROOT, peerNodeFlags, peerRuntime, REPO_ROOT } from './procs.js'
import { commandLine, gitInfo, machineInfo, writeResult } from './results.js'
import { renderReport } from './report.js'

const PARTS: Part[] = [hopPart, streamPart, routedPart, convergencePart, failurePart, startupPart, embeddedPart, profilePart, idlePart, fuzzPart, rttPart, routeDecisionPart, changePart, affinityPart, embedPart, memoryPart]

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    quick: { type: 'boolean', default: false },
    'cpu-prof': { type: 'boolean', default: false },
    'no-report': { type: 'boolean', default: false }
  }
})
const mode = values.quick === true ? 'quick' : 'full'
const unknown = positionals.filter(p => !PARTS.some(part => part.name === p))
if (unknown.length > 0) {
  process.stderr.write(`unknown part(s): ${unknown.join(', ')}; parts: ${PARTS.map(p => p.name).join(', ')}\n`)
  process.exit(2)
}
// The profile is evidence for optimisation work, not a measurement: the quick run leaves it out.
// Affinity runs three peers with a 110 MB model for minutes: only when named (`npm run bench:affinity`).
const selected = positionals.length > 0
  ? PARTS.filter(p => positionals.includes(p.name))
  : PARTS.filter(p => (mode === 'full' || p.name !== 'profile') && p.name !== 'affinity')

if (values['cpu-prof'] === true) {
  // Profiles of every spawned peer, written when it exits gracefully (not after kill -9).
  const dir = join(tmpdir(), 'harombe-bench-cpu-prof', new Date().toISOString().replace(/[:.]/g, '-'))
  mkdirSync(dir, { recursive: true })
  peerNodeFlags.push('--cpu-prof', `--cpu-prof-dir=${dir}`)
  process.stderr.write(`CPU profiles of spawned peers go to ${dir}\n`)
}

beginPart('build', 'the CLI runs dist/ only when it is fresher than src/')
let buildNote: string
if (peerRuntime() === 'dist') {
  buildNote = 'dist/ was fresh: no build needed'
} else {
  status('npm run build')
  try {
    execFileSync(process.execPath, [join(PEER_ROOT, 'scripts', 'build.mjs')], { cwd: PEER_ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
    buildNote = 'dist/ was stale: built it with `npm run build`'
  } catch (err: any) {
    // tsc reports on stdout/stderr as `file(line,col): error TS…`; the first such line says enough.
    const output = `${String(err?.stdout ?? '')}\n${String(err?.stderr ?? '')}`
    const reason = output.split('\n').find(l => /error TS\d+/.test(l))?.trim() ?? String(err?.message ?? err).split('\n')[0]
    buildNote = `npm run build failed (${reason}); CLI peers run src/ through tsx`
  }
}
note(`${buildNote}; CLI peers run ${peerRuntime()}`)

const ctx = new BenchContext(mode)
const written: string[] = []
let failed = false
try {
  for (const part of selected) {
    beginPart(part.name, part.title)
    const load = loadavg()[0] ?? 0
    const started = performance.now()
    const runtimeBefore = peerRuntime()
    try {
      const out = await part.run(ctx)
      const runtimeAfter = peerRuntime()
      const file = writeResult({
        part: part.name,
        title: out.title,
        machine: machineInfo(load),
        run: {
          date: new Date().toISOString(),
          ...gitInfo(),
          // Peers from another checkout (HAROMBE_BENCH_PEER_ROOT): the commit they ran is theirs.
          ...(PEER_ROOT !== REPO_ROOT ? { peerRoot: PEER_ROOT, peerGit: gitInfo(PEER_ROOT) } : {}),
          command: commandLine(),
          mode,
          durationSeconds: Math.round((performance.now() - started) / 100) / 10
        },
        params: { ...out.params, cliRuntime: runtimeBefore === runtimeAfter ? runtimeBefore : `${runtimeBefore} → ${runtimeAfter} (src/ changed during the part)` },
        data: out.data,
        targets: out.targets,
        notes: out.notes
      })
      written.push(file)
      for (const t of out.targets) note(`${t.met ? 'met   ' : 'MISSED'} ${t.what}: ${t.measured} (target ${t.target})`)
      note(`wrote ${file} (${((performance.now() - started) / 1000).toFixed(1)} s)`)
    } catch (err: any) {
      failed = true
      note(`FAILED: ${err?.stack ?? err}`)
    }
  }
} finally {
  status('stopping processes')
  await ctx.close()
}

if (values['no-report'] !== true) {
  const file = renderReport()
  process.stderr.write(`regenerated ${file}\n`)
}
process.stderr.write(`done in ${elapsedSeconds().toFixed(1)} s${failed ? ' (some parts failed)' : ''}\n`)
process.exit(failed ? 1 : 0)
