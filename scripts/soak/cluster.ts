// The soak's mesh: every peer is `harombe-peer start` (the CLI) on 127.0.0.1 with its own data
// dir, in front of one small OpenAI-compatible upstream (scripts/bench/synthetic-server.ts, a mock
// of a backend's server, in its own process, so killing a peer never takes the "model" down).
//   entry-a, entry-b  no backend: clients enter here, so every answer crosses a mesh hop
//   serve-1           serves the model; killed with kill -9 and restarted on its data dir
//   serve-2           serves the model and shares a GGUF file: never disturbed, the long-lived serving peer
//   joiner            serves the model; joins and leaves (SIGTERM) every minute
import { appendFileSync, mkdirSync } from 'node:fs'
import { open } from 'node:fs/promises'
import { createHash } from 'node:crypto'
import { join } from 'node:path'
import { hasAlive, waitForView } from '../bench/context.js'
import { spawnCliPeer, spawnScript, type Proc, type ReadyPeer } from '../bench/procs.js'

export type PeerProc = Proc & { peer: ReadyPeer }

export const MODEL = 'soak-model'
/** The file serve-2 shares and the pulls fetch. Small: a pull is one workload kind among many, not a bandwidth test. */
export const SHARED_FILE = 'soak-shared'
const SHARED_BYTES = 4 * 1024 * 1024

/** A (re)start through a loaded shared machine can take tens of seconds. */
const START_TIMEOUT_MS = 60_000
const VIEW_TIMEOUT_MS = 60_000

export interface SoakPeer {
  name: string
  role: 'entry' | 'serving' | 'killed' | 'joiner'
  dataDir: string
  /** The live process; undefined while down (killed, or the joiner between lives). */
  proc?: PeerProc
  lives: number
  /** Set before the soak kills or stops it: any other exit is a crash. */
  exitExpected: boolean
}

export interface Crash { peer: string, life: number, code: number | null, signal: string | null, stderrTail: string }

export interface SoakClusterInit {
  root: string
  /** Upstream pace: tokens per second and time to the first token. */
  upstream: { tokensPerSecond: number, firstTokenMs: number }
  logDir?: string
}

export interface SoakCluster {
  upstream: Proc & { url: string }
  peers: SoakPeer[]
  byName: (name: string) => SoakPeer
  /** The mesh address everyone bootstraps from (entry-a's: never disturbed). */
  bootstrap: string[]
  /** Starts `p` on its data dir (same peer id); resolves at its ready line. */
  start: (p: SoakPeer) => Promise<PeerProc>
  /** Peers that exited without the soak killing or stopping them. */
  crashes: Crash[]
  /** Waits until both entry peers list `name` alive with the model. */
  waitServing: (name: string, timeoutMs?: number) => Promise<void>
  close: () => Promise<void>
}

export async function startSoakCluster (init: SoakClusterInit): Promise<SoakCluster> {
  const upstream = await spawnScript('upstream', 'synthetic-server.ts', ['--model', MODEL, '--tps', String(init.upstream.tokensPerSecond), '--ttft', String(init.upstream.firstTokenMs)])
  const dir = (name: string): string => {
    const d = join(init.root, name)
    mkdirSync(d, { recursive: true })
    return d
  }
  const peers: SoakPeer[] = [
    { name: 'entry-a', role: 'entry', dataDir: dir('entry-a'), lives: 0, exitExpected: false },
    { name: 'entry-b', role: 'entry', dataDir: dir('entry-b'), lives: 0, exitExpected: false },
    { name: 'serve-1', role: 'killed', dataDir: dir('serve-1'), lives: 0, exitExpected: false },
    { name: 'serve-2', role: 'serving', dataDir: dir('serve-2'), lives: 0, exitExpected: false },
    { name: 'joiner', role: 'joiner', dataDir: dir('joiner'), lives: 0, exitExpected: false }
  ]
  const byName = (name: string): SoakPeer => {
    const p = peers.find(x => x.name === name)
    if (p == null) throw new Error(`no soak peer ${name}`)
    return p
  }
  const modelsDir = join(byName('serve-2').dataDir, 'models')
  mkdirSync(modelsDir, { recursive: true })
  await writeSharedFile(join(modelsDir, `${SHARED_FILE}.gguf`))

  let bootstrap: string[] = []
  const crashes: Crash[] = []
  const start = async (p: SoakPeer): Promise<PeerProc> => {
    const serving = p.role !== 'entry'
    const proc = await spawnCliPeer({
      name: p.name,
      dataDir: p.dataDir,
      backend: serving ? 'openai' : 'none',
      ...(serving ? { backendUrl: upstream.url, model: MODEL } : {}),
      bootstrap,
      // serve-2 shares the file in its models dir; the entry peers pull into temp dirs.
      extraArgs: p.name === 'serve-2' ? ['--models-dir', modelsDir] : [],
      timeoutMs: START_TIMEOUT_MS
    })
    if (init.logDir != null) {
      const file = join(init.logDir, `${p.name}.log`)
      appendFileSync(file, `--- ${new Date().toISOString()} pid ${proc.pid}\n`)
      proc.child.stderr?.on('data', (chunk: string) => { appendFileSync(file, chunk) })
    }
    p.proc = proc
    p.lives++
    p.exitExpected = false
    const life = p.lives
    void proc.exited.then(({ code, signal }) => {
      // A later life already runs (this exit was seen late), or the soak ended this one itself.
      if (p.lives !== life || p.exitExpected) return
      crashes.push({ peer: p.name, life, code, signal, stderrTail: proc.stderrTail() })
      if (p.proc === proc) p.proc = undefined
    })
    return proc
  }
  const entryA = byName('entry-a')
  bootstrap = (await start(entryA)).peer.mesh
  await Promise.all(peers.filter(p => p !== entryA && p.role !== 'joiner').map(start))

  const waitServing = async (name: string, timeoutMs = VIEW_TIMEOUT_MS): Promise<void> => {
    for (const e of peers.filter(p => p.role === 'entry')) {
      const api = e.proc?.peer.api
      if (api != null) await waitForView(api, v => hasAlive(v, name, MODEL), timeoutMs)
    }
  }
  await waitServing('serve-1')
  await waitServing('serve-2')

  return {
    upstream,
    peers,
    byName,
    bootstrap,
    start,
    waitServing,
    crashes,
    async close () {
      for (const p of peers) p.exitExpected = true
      await Promise.all(peers.map(async p => await p.proc?.stop(5_000).catch(() => {})))
      await upstream.stop(2_000).catch(() => {})
    }
  }
}

/** Deterministic random bytes with the GGUF magic: zero chunks would all share one hash. */
async function writeSharedFile (path: string): Promise<void> {
  const handle = await open(path, 'w')
  let seed = createHash('sha512').update('harombe-soak').digest()
  const block = 64 * 1024
  for (let offset = 0; offset < SHARED_BYTES; offset += block) {
    seed = createHash('sha512').update(seed).digest()
    const piece = Buffer.alloc(block, seed)
    if (offset === 0) piece.write('GGUF', 0, 'latin1')
    await handle.write(piece, 0, piece.length, offset)
  }
  await handle.close()
}
