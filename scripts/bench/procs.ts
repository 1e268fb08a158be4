// Child processes for the benchmarks: spawn, wait for a ready line (timed from the spawn), read
// RSS, stop or kill -9. Every child is tracked and killed if the benchmark exits early, so an
// interrupted run never leaves peers behind on 127.0.0.1.
import { spawn, type ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { PEER_ROOT, REPO_ROOT } from './runtime.js'

export { peerRuntime, PEER_ROOT, REPO_ROOT } from './runtime.js'
/** The CLI spawned peers run (PEER_ROOT's: this checkout unless HAROMBE_BENCH_PEER_ROOT names another). */
export const PEER_BIN = join(PEER_ROOT, 'bin', 'harombe-peer.js')
const HERE = fileURLToPath(new URL('.', import.meta.url))

/** The CLI's ready line (DESIGN); bench processes print the same shape. */
const READY_RE = /^harombe-peer ready name=(.*) peer=(\S+) api=(\S+) mesh=(\S*)(?: found=".*")?$/

export interface ReadyPeer {
  name: string
  peerId: string
  api: string
  mesh: string[]
}

export interface Proc {
  child: ChildProcess
  pid: number
  label: string
  /** performance.now() at spawn and when the ready line arrived. */
  spawnedAt: number
  readyAt: number
  /** The ready line, split (peers) or as-is (servers). */
  line: string
  stderrTail: () => string
  /** Everything the process wrote to stderr so far (the last KEEP_CHARS). */
  stderr: () => string
  exited: Promise<{ code: number | null, signal: NodeJS.Signals | null }>
  /** SIGTERM, then SIGKILL after graceMs. */
  stop: (graceMs?: number) => Promise<void>
  /** kill -9, resolved once the process is gone. */
  kill: () => Promise<void>
}

export interface SpawnInit {
  label: string
  command: string
  args: string[]
  /** The first stdout line matching this is the ready line. */
  ready: RegExp
  env?: NodeJS.ProcessEnv
  timeoutMs?: number
}

const live = new Set<ChildProcess>()
function killAll (): void {
  for (const child of live) {
    try { child.kill('SIGKILL') } catch {}
  }
  live.clear()
}
process.once('exit', killAll)
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.once(signal, () => {
    killAll()
    process.exit(130)
  })
}

/** Output kept per child for error messages. */
const KEEP_CHARS = 16 * 1024

export async function spawnProc (init: SpawnInit): Promise<Proc> {
  const spawnedAt = performance.now()
  const child = spawn(init.command, init.args, {
    cwd: REPO_ROOT,
    env: { ...process.env, ...init.env },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  live.add(child)
  let err = ''
  let partial = ''
  child.stderr?.setEncoding('utf8')
  child.stdout?.setEncoding('utf8')
  child.stderr?.on('data', (chunk: string) => { err = (err + chunk).slice(-KEEP_CHARS) })
  const exited = new Promise<{ code: number | null, signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => {
      live.delete(child)
      resolve({ code, signal })
    })
  })
  const stderrTail = (): string => err.split('\n').slice(-15).join('\n')

  const { line, readyAt } = await new Promise<{ line: string, readyAt: number }>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`${init.label}: no ready line within ${init.timeoutMs ?? 30_000} ms\n${stderrTail()}`))
    }, init.timeoutMs ?? 30_000)
    child.stdout?.on('data', (chunk: string) => {
      // Timestamp first: the ready time is when the bytes arrived, not when we finished parsing.
      const at = performance.now()
      const lines = (partial + chunk).split('\n')
      partial = lines.pop() ?? ''
      for (const l of lines) {
        if (init.ready.test(l.trim())) {
          clearTimeout(timer)
          resolve({ line: l.trim(), readyAt: at })
          return
        }
      }
    })
    void exited.then(({ code, signal }) => {
      clearTimeout(timer)
      reject(new Error(`${init.label} exited before ready (code ${code}, signal ${signal}): ${init.command} ${init.args.join(' ')}\n${stderrTail()}`))
    })
  })

  const kill = async (): Promise<void> => {
    if (child.exitCode == null && child.signalCode == null) child.kill('SIGKILL')
    await exited
  }
  return {
    child,
    pid: child.pid ?? -1,
    label: init.label,
    spawnedAt,
    readyAt,
    line,
    stderrTail,
    stderr: () => err,
    exited,
    kill,
    async stop (graceMs = 5_000) {
      if (child.exitCode != null || child.signalCode != null) return
      child.kill('SIGTERM')
      const timer = setTimeout(() => { child.kill('SIGKILL') }, graceMs)
      await exited
      clearTimeout(timer)
    }
  }
}

export function parseReady (line: string): ReadyPeer {
  const m = READY_RE.exec(line)
  if (m == null) throw new Error(`not a ready line: ${line}`)
  return { name: m[1] ?? '', peerId: m[2] ?? '', api: m[3] ?? '', mesh: (m[4] ?? '').split(',').filter(a => a !== '') }
}

/** Extra node flags for every spawned peer, e.g. `--cpu-prof --cpu-prof-dir=…` (set by run.ts). */
export const peerNodeFlags: string[] = []

export interface CliPeerInit {
  name: string
  dataDir: string
  /** Absent: no --backend, so the peer detects the LLM servers on this machine (issue 28). */
  backend?: 'none' | 'embedded' | 'openai'
  backendUrl?: string
  /** `--model`: the name served (the openai backend passes it upstream as is). */
  model?: string
  /** `--model-file`: the GGUF the embedded backend loads. */
  modelFile?: string
  bootstrap?: string[]
  /** `--max-tokens-cap`; absent = the CLI's default. */
  maxTokensCap?: number
  /** More `start` options, e.g. `['--route-policy', 'affinity']`. */
  extraArgs?: string[]
  timeoutMs?: number
  env?: NodeJS.ProcessEnv
  /** `--log-level` (default warn). */
  logLevel?: string
  /** Node flags for this peer alone (after peerNodeFlags), e.g. `--max-semi-space-size=4`. */
  nodeFlags?: string[]
  /** Another checkout's bin/harombe-peer.js (a "before" build); default this tree's. */
  bin?: string
}

/** `node bin/harombe-peer.js start …` exactly as a user runs it, on 127.0.0.1 only. */
export async function spawnCliPeer (init: CliPeerInit): Promise<Proc & { peer: ReadyPeer }> {
  const args = [
    ...peerNodeFlags, ...(init.nodeFlags ?? []), init.bin ?? PEER_BIN, 'start',
    '--name', init.name,
    ...(init.backend != null ? ['--backend', init.backend] : []),
    '--api-port', '0',
    '--listen', '/ip4/127.0.0.1/tcp/0',
    '--no-mdns',
    '--data-dir', init.dataDir,
    '--log-level', init.logLevel ?? 'warn'
  ]
  if (init.backendUrl != null) args.push('--backend-url', init.backendUrl)
  if (init.model != null) args.push('--model', init.model)
  if (init.maxTokensCap != null) args.push('--max-tokens-cap', String(init.maxTokensCap))
  if (init.modelFile != null) args.push('--model-file', init.modelFile)
  for (const b of init.bootstrap ?? []) args.push('--bootstrap', b)
  args.push(...(init.extraArgs ?? []))
  const proc = await spawnProc({ label: `peer ${init.name}`, command: process.execPath, args, ready: READY_RE, env: init.env, timeoutMs: init.timeoutMs })
  return { ...proc, peer: parseReady(proc.line) }
}

export interface BenchPeerInit {
  name: string
  dataDir: string
  /** Synthetic backend settings; absent = a routing-only peer. */
  synthetic?: { tokensPerSecond?: number, firstTokenMs?: number, capacity?: number, models?: string[] }
  bootstrap?: string[]
  /** Bearer token the HTTP API requires. */
  token?: string
  /** createPeer's maxTokensCap (the CLI's `--max-tokens-cap`); absent = the default. */
  maxTokensCap?: number
  timeoutMs?: number
}

/**
 * A peer process built with `createPeer` and the in-process synthetic backend (the CLI has no
 * synthetic backend). Same ready line as the CLI; run through tsx from src/.
 */
export async function spawnBenchPeer (init: BenchPeerInit, nodeFlags: string[] = []): Promise<Proc & { peer: ReadyPeer }> {
  const config = JSON.stringify(init)
  const args = [...peerNodeFlags, ...nodeFlags, '--import', 'tsx', join(HERE, 'peer-process.ts'), config]
  const proc = await spawnProc({ label: `bench peer ${init.name}`, command: process.execPath, args, ready: READY_RE, timeoutMs: init.timeoutMs })
  return { ...proc, peer: parseReady(proc.line) }
}

/** A bench server script (synthetic server, reverse proxy) that prints `<what> ready url=<url>`. */
export async function spawnScript (label: string, script: string, args: string[]): Promise<Proc & { url: string }> {
  const proc = await spawnProc({
    label,
    command: process.execPath,
    args: ['--import', 'tsx', join(HERE, script), ...args],
    ready: / ready url=\S+$/
  })
  const url = / ready url=(\S+)$/.exec(proc.line)?.[1] ?? ''
  return { ...proc, url }
}

/** Resident set size in MB from /proc (Linux), and the peak (VmHWM). */
export function rssMb (pid: number): { rss: number, peak: number } | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8')
    const kb = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN)
    return { rss: kb('VmRSS') / 1024, peak: kb('VmHWM') / 1024 }
  } catch {
    return undefined
  }
}

/** Linux clock ticks per second for /proc/<pid>/stat times (USER_HZ, 100 on every mainstream kernel). */
const CLOCK_TICKS = 100

/** CPU time (user + system) a process has used so far, in ms, from /proc (Linux). */
export function cpuMs (pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // Fields after the command name (which may contain spaces) start at state: utime and stime are 14 and 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(fields[11]) + Number(fields[12])) * 1000 / CLOCK_TICKS
  } catch {
    return NaN
  }
}
