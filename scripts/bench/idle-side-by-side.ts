// Idle CPU of two builds side by side: an N-peer mesh of this checkout's CLI and an N-peer mesh of
// another checkout's (`--before <dir>`, built), started together on 127.0.0.1 as separate meshes,
// measured over the same window. Sequential runs of `bench:idle` drift with the machine between
// them (a 5-peer after/before ratio moved 0.98–1.22 across four runs); one window shared by both
// builds leaves only the builds' difference.
//
//   npx tsx scripts/bench/idle-side-by-side.ts --before /work/before24 [--n 5] [--warmup-s 45] [--window-s 60] [--json]
import { mkdtempSync, rmSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { spawnCliPeer, REPO_ROOT, type Proc, type ReadyPeer } from './procs.js'
import { threadCpuMs } from './part-idle.js'
import { round, summarize } from './stats.js'

const { values } = parseArgs({
  options: {
    before: { type: 'string' },
    n: { type: 'string', default: '5' },
    'warmup-s': { type: 'string', default: '45' },
    'window-s': { type: 'string', default: '60' },
    json: { type: 'boolean', default: false },
    help: { type: 'boolean', default: false }
  }
})
if (values.help === true || values.before == null) {
  process.stdout.write('usage: npx tsx scripts/bench/idle-side-by-side.ts --before <checkout with a build> [--n 5] [--warmup-s 45] [--window-s 60] [--json]\n')
  process.exit(values.help === true ? 0 : 2)
}
const n = Number(values.n)
// Warm-up from the last ready line: V8's start-up memory reducer and the first gossipsub heartbeats are start-up, not idle (part-idle.ts).
const warmupMs = Number(values['warmup-s']) * 1000
const windowMs = Number(values['window-s']) * 1000
const builds = { after: REPO_ROOT, before: values.before }
const data = mkdtempSync(join(tmpdir(), 'harombe-idle-pair-'))
const meshes: Record<string, Array<Proc & { peer: ReadyPeer }>> = {}
const say = (line: string): void => { if (values.json !== true) process.stderr.write(line + '\n') }
try {
  for (const [who, root] of Object.entries(builds)) {
    const bin = join(root, 'bin', 'harombe-peer.js')
    say(`${who}: starting ${n} peers (${bin})`)
    const seed = await spawnCliPeer({ name: `${who}-0`, dataDir: join(data, `${who}-0`), backend: 'none', bin })
    const rest = await Promise.all(Array.from({ length: n - 1 }, async (_, i) => await spawnCliPeer({ name: `${who}-${i + 1}`, dataDir: join(data, `${who}-${i + 1}`), backend: 'none', bin, bootstrap: seed.peer.mesh })))
    meshes[who] = [seed, ...rest]
  }
  say(`warming up ${warmupMs / 1000} s, then a ${windowMs / 1000} s window shared by both meshes`)
  await new Promise(resolve => setTimeout(resolve, warmupMs))
  const load = loadavg()[0] ?? NaN
  const start = Object.fromEntries(Object.entries(meshes).map(([who, ps]) => [who, ps.map(p => threadCpuMs(p.pid))]))
  await new Promise(resolve => setTimeout(resolve, windowMs))
  const perPeer = Object.fromEntries(Object.entries(meshes).map(([who, ps]) => [who, ps.map((p, i) => round((threadCpuMs(p.pid) - (start[who]?.[i] ?? NaN)) / (windowMs / 1000), 2))]))
  const median = (v: number[]): number => round(summarize(v).p50, 2)
  const result = {
    n, warmupMs, windowMs, loadAvgAtWindow: round(load, 2), before: builds.before,
    idle_cpu_ms_per_s: Object.fromEntries(Object.entries(perPeer).map(([who, v]) => [who, { median: median(v), per_peer: v }])),
    after_over_before: round(median(perPeer.after ?? []) / median(perPeer.before ?? []), 3)
  }
  if (values.json === true) process.stdout.write(JSON.stringify(result) + '\n')
  else for (const [who, v] of Object.entries(perPeer)) process.stdout.write(`${who}: median ${median(v)} ms/s per peer (${v.join(', ')})\n`)
  if (values.json !== true) process.stdout.write(`after / before: × ${result.after_over_before} (N = ${n}, window ${windowMs / 1000} s, load ${result.loadAvgAtWindow})\n`)
} finally {
  await Promise.all(Object.values(meshes).flat().map(async p => await p.stop(6_000)))
  rmSync(data, { recursive: true, force: true })
}
