// Result files: bench/results/<part>.json (full run) or <part>.quick.json (bench:quick), each with
// the machine, the Node version, the date, the git commit and the command that produced it, so
// every figure in BENCHMARKS.md can be traced to a run.
import { execFileSync } from 'node:child_process'
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { cpus, loadavg, totalmem, release, platform, availableParallelism } from 'node:os'
import { join } from 'node:path'
import { REPO_ROOT } from './procs.js'

export const RESULTS_DIR = join(REPO_ROOT, 'bench', 'results')

export interface MachineInfo {
  cpuModel: string
  cores: number
  memoryGb: number
  os: string
  node: string
  /** 1-minute load average when the part started and ended: a busy machine shows here. */
  loadAvgStart: number
  loadAvgEnd: number
}

export interface RunInfo {
  date: string
  gitCommit: string
  /** Uncommitted changes in the tree when the run was made. */
  gitDirty: boolean
  command: string
  mode: 'full' | 'quick'
  durationSeconds: number
  /** Set when the peers ran another checkout's CLI (HAROMBE_BENCH_PEER_ROOT): where, and its commit. */
  peerRoot?: string
  peerGit?: { gitCommit: string, gitDirty: boolean }
}

export interface ResultFile<T = unknown> {
  part: string
  title: string
  machine: MachineInfo
  run: RunInfo
  /** Parameters: bounds, sizes, rates — what was asked for. */
  params: Record<string, unknown>
  /** Measurements; shape per part (see the part's module). */
  data: T
  /** Each target from the issue, with the measured figure and whether it was met. */
  targets: Target[]
  /** Caveats a reader needs (e.g. the CLI ran through tsx). */
  notes: string[]
}

export interface Target {
  what: string
  target: string
  measured: string
  met: boolean
}

export function machineInfo (loadAvgStart: number): MachineInfo {
  return {
    cpuModel: cpus()[0]?.model.trim() ?? 'unknown',
    cores: availableParallelism(),
    memoryGb: Math.round(totalmem() / 1024 ** 3 * 10) / 10,
    os: `${platform()} ${release()}`,
    node: process.version,
    loadAvgStart: Math.round(loadAvgStart * 100) / 100,
    loadAvgEnd: Math.round((loadavg()[0] ?? 0) * 100) / 100
  }
}

/** The commit, and whether the code differs from it (the benchmark's own outputs do not count: a run rewrites them as it goes). */
export function gitInfo (root = REPO_ROOT): { gitCommit: string, gitDirty: boolean } {
  const git = (...args: string[]): string => {
    try {
      return execFileSync('git', args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()
    } catch {
      return ''
    }
  }
  return { gitCommit: git('rev-parse', 'HEAD') || 'unknown', gitDirty: git('status', '--porcelain', '--', '.', ':!bench', ':!BENCHMARKS.md') !== '' }
}

/** How the run was started: the npm script if any, and the exact process command line. */
export function commandLine (): string {
  const script = process.env.npm_lifecycle_event
  const argv = process.argv.slice(2).join(' ')
  const direct = `tsx scripts/bench/run.ts${argv !== '' ? ' ' + argv : ''}`
  // `npx` sets npm_lifecycle_event to 'npx': only an npm script is worth naming.
  return script != null && script !== '' && script !== 'npx' ? `npm run ${script} (${direct})` : direct
}

export function resultFileName (part: string, mode: 'full' | 'quick'): string {
  return mode === 'quick' ? `${part}.quick.json` : `${part}.json`
}

export function writeResult (result: ResultFile): string {
  mkdirSync(RESULTS_DIR, { recursive: true })
  const file = join(RESULTS_DIR, resultFileName(result.part, result.run.mode))
  writeFileSync(file, JSON.stringify(result, null, 2) + '\n')
  return file
}

/** Result files in bench/results (or a subfolder of it, e.g. `before` for a before/after comparison). */
export function readResults (subdir = ''): Map<string, ResultFile> {
  const out = new Map<string, ResultFile>()
  const dir = join(RESULTS_DIR, subdir)
  let names: string[] = []
  try {
    names = readdirSync(dir).filter(n => n.endsWith('.json')).sort()
  } catch {}
  for (const name of names) {
    try {
      out.set(name, JSON.parse(readFileSync(join(dir, name), 'utf8')) as ResultFile)
    } catch (err: any) {
      process.stderr.write(`skipping ${name}: ${err?.message ?? err}\n`)
    }
  }
  return out
}
