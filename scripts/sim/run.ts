// `npm run sim` — the membership simulator (issue 12): the real SWIM code (src/membership) in
// virtual time over a simulated network, N = 10, 100 and 1,000. Writes
// bench/results/membership-sim.json and the "Membership simulator" section of BENCHMARKS.md.
//
//   npm run sim                 full run (~2 minutes on 2 cores, jobs in worker threads)
//   npm run sim -- --quick      N = 10 and 100, seconds; exits 1 if msgs/peer/s at N = 100 > 2 × N = 10 (CI)
//   npm run sim -- --serial     the full run in one thread
//   npm run sim -- --no-report  leave BENCHMARKS.md alone
import { relative } from 'node:path'
import { REPO_ROOT } from '../bench/runtime.js'
import { checkShape, runSuite, writeResultFile } from './suite.js'

const USAGE = 'usage: tsx scripts/sim/run.ts [--quick] [--serial] [--no-report] [--debug]'

async function main (argv: string[]): Promise<number> {
  const known = new Set(['--quick', '--serial', '--no-report', '--debug', '--help'])
  const unknown = argv.filter(a => !known.has(a))
  if (unknown.length > 0 || argv.includes('--help')) {
    process.stderr.write(`${unknown.length > 0 ? `unknown option: ${unknown.join(' ')}\n` : ''}${USAGE}\n`)
    return unknown.length > 0 ? 2 : 0
  }
  const quick = argv.includes('--quick')
  const started = performance.now()
  const clock = (): string => `${((performance.now() - started) / 1000).toFixed(1).padStart(6)} s`
  process.stderr.write(`${clock()}  membership simulator, ${quick ? 'quick' : 'full'} run\n`)
  const result = await runSuite({
    quick,
    parallel: !quick && !argv.includes('--serial'),
    progress: (job, text) => { process.stderr.write(`${clock()}  [${job.label}] ${text}\n`) }
  })
  const path = writeResultFile(result)
  process.stdout.write(`${table(result.rows)}\n`)
  for (const t of result.targets) process.stdout.write(`${t.status.padEnd(8)} ${t.what}: ${t.measured} (target ${t.target})\n`)
  process.stdout.write(`wrote ${relative(REPO_ROOT, path)} in ${result.run.durationSeconds} s\n`)
  if (!quick && !argv.includes('--no-report')) {
    const { updateBenchmarks } = await import('./report.js')
    process.stdout.write(`updated ${relative(REPO_ROOT, updateBenchmarks())}\n`)
  }
  const shape = checkShape(result.rows)
  process.stdout.write(`${shape.message}\n`)
  return shape.ok ? 0 : 1
}

function table (rows: Awaited<ReturnType<typeof runSuite>>['rows']): string {
  const head = ['N', 'loss', 'msgs/peer/s', 'B/peer/s', 'join p50/p99 ms', 'crash p50/p99 ms', 'dead p50/p99 ms', 'false deaths/1k ph', 'wall s']
  const lines = rows.map(r => [
    r.n, `${r.loss * 100} %`, r.msgs_per_peer_per_s, r.bytes_per_peer_per_s,
    `${r.join_converge_ms_p50} / ${r.join_converge_ms_p99}`, `${r.crash_detect_ms_p50} / ${r.crash_detect_ms_p99}`,
    `${r.crash_dead_ms_p50} / ${r.crash_dead_ms_p99}`, `${r.false_deaths_per_1000_peer_hours} (${r.false_deaths} in ${r.peer_hours} ph)`, r.wall_s
  ].map(String))
  const widths = head.map((h, i) => Math.max(h.length, ...lines.map(l => (l[i] ?? '').length)))
  return [head, ...lines].map(l => l.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ')).join('\n')
}

main(process.argv.slice(2)).then(code => { process.exitCode = code }, (err: any) => {
  process.stderr.write(`membership simulator failed: ${err?.message ?? err}\n`)
  if (process.argv.includes('--debug')) process.stderr.write(`${err?.stack ?? ''}\n`)
  process.exitCode = 1
})
