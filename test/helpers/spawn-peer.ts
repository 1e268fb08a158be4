import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'

// Spawns `harombe-peer start` as a child process for e2e tests, waits for its ready line and
// stops it gracefully. Output is always drained (a full pipe would stall the peer) and kept
// for failure messages.

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url))
export const PEER_BIN = fileURLToPath(new URL('../../bin/harombe-peer.js', import.meta.url))

/** The ready line's fields: `harombe-peer ready name=… peer=… api=… mesh=…,…`. */
export interface ReadyInfo {
  name: string
  peerId: string
  api: string
  mesh: string[]
  /** With detection (no backend given): what `start` found, as the ready line says it. */
  found?: string
}

export interface SpawnPeerOptions {
  /** Command run in front of `node bin/harombe-peer.js`, e.g. `['ip', 'netns', 'exec', 'hp-1-a']`. */
  prefix?: string[]
  /** Merged over `process.env`. */
  env?: NodeJS.ProcessEnv
  /** How long to wait for the ready line before the child is killed (default 15 s). */
  timeoutMs?: number
  /** How long `stop()` waits after its signal before SIGKILL (default 5 s). */
  stopGraceMs?: number
  cwd?: string
}

export interface SpawnedPeer {
  child: ChildProcess
  ready: ReadyInfo
  /** The full command line, for messages. */
  command: string[]
  stdout: () => string
  stderr: () => string
  /** The last `lines` lines of stderr, for assertion messages. */
  stderrTail: (lines?: number) => string
  /** Resolves when the process has exited (never rejects). */
  exited: Promise<ExitStatus>
  /** Sends `signal` (default SIGTERM), SIGKILL after the grace period; resolves the exit code (null if killed by a signal). */
  stop: (signal?: NodeJS.Signals) => Promise<number | null>
  /** SIGKILL and wait for the exit. */
  kill: () => Promise<void>
}

export interface ExitStatus {
  code: number | null
  signal: NodeJS.Signals | null
}

export class PeerStartError extends Error {
  constructor (message: string, readonly stdout: string, readonly stderr: string) {
    super(message)
    this.name = 'PeerStartError'
  }
}

const READY_RE = /^harombe-peer ready name=(.*) peer=(\S+) api=(\S+) mesh=(\S*)(?: found=(".*"))?$/
const DEFAULT_TIMEOUT_MS = 15_000
const DEFAULT_STOP_GRACE_MS = 5_000
/** Output kept per stream; older output is dropped. */
const MAX_KEPT_CHARS = 256 * 1024

export function parseReadyLine (line: string): ReadyInfo | undefined {
  const m = READY_RE.exec(line.trim())
  if (m == null) return undefined
  return {
    name: m[1] ?? '',
    peerId: m[2] ?? '',
    api: m[3] ?? '',
    mesh: (m[4] ?? '').split(',').filter(a => a !== ''),
    ...(m[5] != null ? { found: JSON.parse(m[5]) as string } : {})
  }
}

// Children still running when the test process exits (a crash, mocha's --exit, Ctrl-C, a CI
// runner's SIGTERM) are killed, so an aborted run never leaves peers behind.
const live = new Set<ChildProcess>()
function killAllNow (): void {
  for (const child of live) {
    try { child.kill('SIGKILL') } catch {}
  }
  live.clear()
}
process.once('exit', killAllNow)
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.once(signal, () => {
    killAllNow()
    // Keep the default (terminate) unless someone else handles the signal.
    if (process.listenerCount(signal) === 0) process.kill(process.pid, signal)
  })
}

/**
 * Runs `[...prefix] node bin/harombe-peer.js start ...args` and resolves once the ready line
 * is printed. `args` are the arguments after `start` (a leading `'start'` is accepted too).
 * Rejects with a `PeerStartError` (including stderr) if the process exits first or the ready
 * line does not come within `timeoutMs`; the child is killed in that case.
 */
export async function spawnPeer (args: string[], options: SpawnPeerOptions = {}): Promise<SpawnedPeer> {
  const startArgs = args[0] === 'start' ? args : ['start', ...args]
  const command = [...(options.prefix ?? []), process.execPath, PEER_BIN, ...startArgs]
  const [file, ...rest] = command as [string, ...string[]]
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS
  const stopGraceMs = options.stopGraceMs ?? DEFAULT_STOP_GRACE_MS

  const child = spawn(file, rest, {
    cwd: options.cwd ?? REPO_ROOT,
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  live.add(child)

  let out = ''
  let err = ''
  let partialLine = ''
  let onStdoutLine: ((line: string) => void) | undefined
  child.stdout?.setEncoding('utf8')
  child.stderr?.setEncoding('utf8')
  child.stdout?.on('data', (chunk: string) => {
    out = keep(out + chunk)
    if (onStdoutLine == null) return
    const lines = (partialLine + chunk).split('\n')
    partialLine = keep(lines.pop() ?? '')
    for (const line of lines) onStdoutLine?.(line)
  })
  child.stderr?.on('data', (chunk: string) => { err = keep(err + chunk) })

  let exitStatus: ExitStatus | undefined
  const exited = new Promise<ExitStatus>((resolve) => {
    const done = (status: ExitStatus): void => {
      if (exitStatus != null) return
      exitStatus = status
      live.delete(child)
      resolve(status)
    }
    child.once('exit', (code, signal) => { done({ code, signal }) })
    // A failed spawn (e.g. the prefix command is missing) emits 'error' and maybe no 'exit'.
    child.once('error', () => { setTimeout(() => { done({ code: child.exitCode, signal: child.signalCode }) }, 50) })
  })

  const stderrTail = (lines = 40): string => err.split('\n').slice(-lines - 1).join('\n').trimEnd()
  const describe = (): string => `${command.join(' ')}\n--- stderr (tail) ---\n${stderrTail()}`

  const kill = async (): Promise<void> => {
    if (exitStatus == null) child.kill('SIGKILL')
    await exited
  }

  const stop = async (signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> => {
    if (exitStatus == null) {
      child.kill(signal)
      let timer: NodeJS.Timeout | undefined
      const graceOver = new Promise<'timeout'>((resolve) => { timer = setTimeout(() => { resolve('timeout') }, stopGraceMs) })
      const result = await Promise.race([exited, graceOver])
      clearTimeout(timer)
      if (result === 'timeout') child.kill('SIGKILL')
    }
    return (await exited).code
  }

  const ready = await new Promise<ReadyInfo>((resolve, reject) => {
    let settled = false
    const finish = (error: Error | undefined, info?: ReadyInfo): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      onStdoutLine = undefined
      if (error != null) reject(error)
      else resolve(info!)
    }
    onStdoutLine = (line: string): void => {
      const info = parseReadyLine(line)
      if (info != null) finish(undefined, info)
    }
    const timer = setTimeout(() => {
      // Kill first so the error carries everything the peer printed.
      void kill().then(() => {
        finish(new PeerStartError(`no ready line within ${timeoutMs} ms: ${describe()}`, out, err))
      })
    }, timeoutMs)
    child.once('error', (e) => {
      finish(new PeerStartError(`could not run ${command.join(' ')}: ${e.message}`, out, err))
    })
    void exited.then(async ({ code, signal }) => {
      // Let the pipes drain so the message has the peer's last words.
      await new Promise(resolve => setTimeout(resolve, 100))
      finish(new PeerStartError(`exited before ready (code ${code}, signal ${signal}): ${describe()}`, out, err))
    })
  })

  return {
    child,
    ready,
    command,
    stdout: () => out,
    stderr: () => err,
    stderrTail,
    exited,
    stop,
    kill
  }
}

function keep (text: string): string {
  return text.length > MAX_KEPT_CHARS ? text.slice(-MAX_KEPT_CHARS) : text
}
