import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { createServer as createHttpServer } from 'node:http'
import { createServer, type Server } from 'node:net'
import { PEER_BIN, REPO_ROOT } from './spawn-peer.js'

// Runs one `harombe-peer …` command to completion for e2e tests of the CLI's exit codes and
// messages. Never hangs: the child is killed after `timeoutMs` and the result says so.

export interface CliResult {
  /** The command line, for assertion messages. */
  command: string
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
  /** Wall time from spawn to exit. */
  ms: number
  /** True if the child was killed because it ran past `timeoutMs`. */
  timedOut: boolean
}

export interface RunCliOptions {
  /** Kill the child (SIGKILL) after this long (default 20 s). */
  timeoutMs?: number
  /** Merged over `process.env`. */
  env?: NodeJS.ProcessEnv
  cwd?: string
}

// Generous: a cold start through the tsx fallback on a loaded 2-core machine takes a few seconds
// Above the join bound of the slowest case, with room for a loaded CI machine.
const DEFAULT_TIMEOUT_MS = 40_000

// Children still running when the test process exits are killed (mocha's --exit, a crash)
const live = new Set<ChildProcess>()
process.once('exit', () => {
  for (const child of live) {
    try { child.kill('SIGKILL') } catch {}
  }
})

/** Runs `node bin/harombe-peer.js ...args` and resolves when it exits or is killed; never rejects. */
export async function runCli (args: string[], options: RunCliOptions = {}): Promise<CliResult> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS
  const command = ['harombe-peer', ...args].join(' ')
  const started = Date.now()
  const child = spawn(process.execPath, [PEER_BIN, ...args], {
    cwd: options.cwd ?? REPO_ROOT,
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  live.add(child)
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8')
  child.stderr.setEncoding('utf8')
  child.stdout.on('data', (chunk: string) => { stdout += chunk })
  child.stderr.on('data', (chunk: string) => { stderr += chunk })

  let timedOut = false
  const timer = setTimeout(() => {
    timedOut = true
    child.kill('SIGKILL')
  }, timeoutMs)
  // 'close' comes after 'exit' and after both pipes have ended: nothing printed is lost
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => {
    child.once('close', (code, signal) => { resolve([code, signal]) })
    child.once('error', (err) => {
      stderr += `\n[runCli] could not run ${command}: ${err.message}`
      resolve([null, null])
    })
  })
  clearTimeout(timer)
  live.delete(child)
  return { command, code, signal, stdout, stderr, ms: Date.now() - started, timedOut }
}

/** Runs at most `concurrency` tasks at a time; each call resolves with its task's result. */
export function limitConcurrency (concurrency: number): <T>(task: () => Promise<T>) => Promise<T> {
  let running = 0
  const waiting: Array<() => void> = []
  return async <T>(task: () => Promise<T>): Promise<T> => {
    if (running >= concurrency) await new Promise<void>(resolve => { waiting.push(resolve) })
    running++
    try {
      return await task()
    } finally {
      running--
      waiting.shift()?.()
    }
  }
}

/** A TCP server on 127.0.0.1 that accepts and ignores connections: its port is "in use". */
export async function listenOnLoopback (): Promise<{ server: Server, port: number }> {
  const server = createServer(socket => { socket.destroy() })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return { server, port: portOf(server) }
}

/** A loopback port nothing listens on: bound by the OS, then released. */
export async function closedLoopbackPort (): Promise<number> {
  const { server, port } = await listenOnLoopback()
  await new Promise<void>((resolve, reject) => { server.close(err => { err != null ? reject(err) : resolve() }) })
  return port
}

/** An HTTP server on 127.0.0.1 that answers every request with the same JSON body. */
export async function serveJson (body: unknown): Promise<{ server: Server, url: string }> {
  const server = createHttpServer((_req, res) => {
    res.setHeader('content-type', 'application/json')
    res.end(JSON.stringify(body))
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return { server, url: `http://127.0.0.1:${portOf(server)}` }
}

function portOf (server: Server): number {
  const address = server.address()
  if (address == null || typeof address === 'string') throw new Error('server has no TCP address')
  return address.port
}
