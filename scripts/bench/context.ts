// What every benchmark part shares: the run mode, scratch directories, processes to stop at the
// end, and the synthetic mesh fixture (built once, reused by hop, stream and routed).
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { getJson } from './client.js'
import { spawnBenchPeer, spawnCliPeer, spawnScript, type Proc, type ReadyPeer } from './procs.js'
import type { Target } from './results.js'
import { status } from './progress.js'

export type Mode = 'full' | 'quick'

export interface PartOutput {
  title: string
  params: Record<string, unknown>
  data: unknown
  targets: Target[]
  notes: string[]
}

export interface Part {
  name: string
  title: string
  run: (ctx: BenchContext) => Promise<PartOutput>
}

export type PeerProc = Proc & { peer: ReadyPeer }

/** Model names: the in-process synthetic backend, and the same generator behind HTTP (openai backend). */
export const MODEL_INPROC = 'synthetic'
export const MODEL_VIA_HTTP = 'synthetic-via-http'

/**
 * `--max-tokens-cap` of the synthetic mesh's three peers (serve-a, entry-b, serve-http): above the longest stream any part asks
 * for (the stream part's 40,000 tokens), so every path carries the whole answer. At the default
 * cap (8,192) the peers cut the stream part's answers short while the direct server did not, and
 * the paths were no longer compared on the same work.
 */
export const MESH_MAX_TOKENS_CAP = 100_000

/**
 * The synthetic mesh. `direct` is the synthetic OpenAI-compatible server. `serveA` runs the
 * synthetic backend in-process; `serveHttp` is the CLI with `--backend openai` in front of
 * `direct`; `entry` has no backend, so everything it answers crossed one mesh hop.
 */
export interface SyntheticMesh {
  direct: Proc & { url: string }
  serveA: PeerProc
  serveHttp: PeerProc
  entry: PeerProc
  /** Endpoints (…/v1/chat/completions). */
  endpoints: { direct: string, serveA: string, serveHttp: string, entry: string }
  /**
   * Every peer in this mesh, including those parts added later (routed: a second serving peer;
   * failure: its victims). Parts that add a peer push it here; killed peers are removed.
   */
  members: PeerProc[]
}

export class BenchContext {
  readonly root: string
  private readonly procs: Proc[] = []
  private mesh?: Promise<SyntheticMesh>
  private dirs = 0

  constructor (readonly mode: Mode) {
    this.root = mkdtempSync(join(tmpdir(), 'harombe-bench-'))
  }

  get quick (): boolean { return this.mode === 'quick' }

  /** A fresh, empty data directory (a new peer identity). */
  dataDir (name: string): string {
    const dir = join(this.root, `${String(++this.dirs).padStart(3, '0')}-${name}`)
    mkdirSync(dir, { recursive: true })
    return dir
  }

  /** Stopped (SIGTERM, then SIGKILL) when the run ends. */
  track<T extends Proc>(proc: T): T {
    this.procs.push(proc)
    return proc
  }

  async syntheticMesh (): Promise<SyntheticMesh> {
    this.mesh ??= this.buildMesh()
    return await this.mesh
  }

  private async buildMesh (): Promise<SyntheticMesh> {
    status('starting the synthetic server and the serving peer')
    const [direct, serveA] = await Promise.all([
      // It lists the model the openai-backend peer serves: a peer announces only what its backend has.
      spawnScript('synthetic server', 'synthetic-server.ts', ['--model', MODEL_VIA_HTTP]).then(p => this.track(p)),
      spawnBenchPeer({ name: 'serve-a', dataDir: this.dataDir('serve-a'), synthetic: {}, maxTokensCap: MESH_MAX_TOKENS_CAP }).then(p => this.track(p))
    ])
    const bootstrap = serveA.peer.mesh
    status('starting the entry peer and the openai-backend peer')
    const [entry, serveHttp] = await Promise.all([
      spawnBenchPeer({ name: 'entry-b', dataDir: this.dataDir('entry-b'), bootstrap, maxTokensCap: MESH_MAX_TOKENS_CAP }).then(p => this.track(p)),
      spawnCliPeer({ name: 'serve-http', dataDir: this.dataDir('serve-http'), backend: 'openai', backendUrl: direct.url, bootstrap, model: MODEL_VIA_HTTP, maxTokensCap: MESH_MAX_TOKENS_CAP }).then(p => this.track(p))
    ])
    status('waiting until the entry peer sees both serving peers')
    await waitForView(entry.peer.api, view => hasAlive(view, 'serve-a', MODEL_INPROC) && hasAlive(view, 'serve-http', MODEL_VIA_HTTP), 20_000)
    const ep = (base: string): string => `${base.replace(/\/v1$/, '')}/v1/chat/completions`
    return {
      direct,
      serveA,
      serveHttp,
      entry,
      endpoints: { direct: ep(direct.url), serveA: ep(serveA.peer.api), serveHttp: ep(serveHttp.peer.api), entry: ep(entry.peer.api) },
      members: [serveA, entry, serveHttp]
    }
  }

  /** Stops every process (in parallel: a graceful peer stop can take seconds) and removes scratch files. */
  async close (): Promise<void> {
    await Promise.all(this.procs.map(async p => await p.stop(5_000).catch(() => {})))
    rmSync(this.root, { recursive: true, force: true })
  }
}

export interface ViewPeer {
  peer_id: string
  name: string
  state: string
  models: string[]
}

export function hasAlive (view: { peers?: ViewPeer[] }, name: string, model?: string): boolean {
  return (view.peers ?? []).some(p => p.name === name && p.state === 'alive' && (model == null || p.models.includes(model)))
}

/** Polls a peer's /api/cluster until `ok` holds; throws after `timeoutMs`. */
export async function waitForView (api: string, ok: (view: { peers?: ViewPeer[] }) => boolean, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs
  let last: unknown
  while (performance.now() < deadline) {
    try {
      last = await getJson(`${api}/api/cluster`)
      if (ok(last as { peers?: ViewPeer[] })) return
    } catch (err) {
      last = err
    }
    await sleep(50)
  }
  throw new Error(`${api}: view condition not met within ${timeoutMs} ms; last view: ${JSON.stringify(last)?.slice(0, 500)}`)
}

export async function sleep (ms: number): Promise<void> {
  await new Promise(resolve => setTimeout(resolve, ms))
}

/** `a / b` as a ratio rounded for reading. */
export function ratio (a: number, b: number): number {
  return Math.round((a / b) * 1000) / 1000
}
