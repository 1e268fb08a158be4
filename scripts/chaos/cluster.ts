// The chaos cluster: two client peers (the CLI, routing only, never touched) and three serving
// peers (the synthetic backend in-process, so kill -9 takes the "model" down with its peer) that
// are killed, restarted with the same data directory (same peer id) and frozen with SIGSTOP.
// Tracks which serving peers are live at every moment, for the "a candidate lives" condition.
import { appendFileSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { hasAlive, waitForView } from '../bench/context.js'
import { spawnBenchPeer, spawnCliPeer, type Proc, type ReadyPeer } from '../bench/procs.js'

type PeerProc = Proc & { peer: ReadyPeer }

/** A restart through tsx takes 1–3 s on an idle machine and over 20 s when the shared machine is saturated. */
const RESTART_TIMEOUT_MS = 60_000

/** up = ready and running; stopped = SIGSTOP; down = killed, not yet restarted; starting = restarting. */
export type ServingState = 'up' | 'stopped' | 'down' | 'starting'

export interface ServingPeer {
  name: string
  dataDir: string
  proc: PeerProc
  state: ServingState
  /** Lives of this peer: 1 + restarts. */
  lives: number
}

export interface ChaosClusterInit {
  root: string
  clientNames: string[]
  servingNames: string[]
  model: string
  synthetic: { tokensPerSecond: number, firstTokenMs: number, capacity: number }
  /** ms since the run started. */
  clock: () => number
  /** Append each peer's stderr here (one file per peer), for post-mortems. */
  logDir?: string
}

export interface ChaosCluster {
  clients: PeerProc[]
  serving: ServingPeer[]
  /** (time, serving peers up) at every change, from the start. */
  liveTimeline: Array<{ t: number, live: number }>
  /** Every serving-peer state change, from the start. */
  stateLog: Array<{ t: number, peer: string, state: ServingState }>
  live: () => number
  setState: (p: ServingPeer, state: ServingState) => void
  /** Spawns `p` again on its data directory; resolves when its ready line is out. */
  restart: (p: ServingPeer) => Promise<void>
  /** SIGCONT every stopped peer, then stops everything (SIGTERM, SIGKILL after a grace period). */
  close: () => Promise<void>
}

export async function startChaosCluster (init: ChaosClusterInit): Promise<ChaosCluster> {
  const dir = (name: string): string => {
    const d = join(init.root, name)
    mkdirSync(d, { recursive: true })
    return d
  }
  const logTo = (proc: Proc, name: string): void => {
    if (init.logDir == null) return
    const file = join(init.logDir, `${name}.log`)
    appendFileSync(file, `--- ${new Date().toISOString()} pid ${proc.pid}\n`)
    proc.child.stderr?.on('data', (chunk: string) => { appendFileSync(file, chunk) })
  }
  const [firstName, ...otherClients] = init.clientNames
  if (firstName == null) throw new Error('at least one client peer')
  // The first client peer is everyone's bootstrap: it is never killed, so restarts always find the mesh.
  const first = await spawnCliPeer({ name: firstName, dataDir: dir(firstName), backend: 'none' })
  logTo(first, firstName)
  const bootstrap = first.peer.mesh
  const [rest, servingProcs] = await Promise.all([
    Promise.all(otherClients.map(async name => await spawnCliPeer({ name, dataDir: dir(name), backend: 'none', bootstrap }))),
    Promise.all(init.servingNames.map(async name => await spawnBenchPeer({ name, dataDir: dir(name), synthetic: { ...init.synthetic, models: [init.model] }, bootstrap })))
  ])
  const clients = [first, ...rest]
  rest.forEach((p, i) => { logTo(p, otherClients[i] as string) })
  const serving: ServingPeer[] = servingProcs.map((proc, i) => {
    const name = init.servingNames[i] as string
    logTo(proc, name)
    return { name, dataDir: join(init.root, name), proc, state: 'up', lives: 1 }
  })
  for (const c of clients) {
    await waitForView(c.peer.api, v => init.servingNames.every(n => hasAlive(v, n, init.model)), 30_000)
  }

  const liveTimeline: Array<{ t: number, live: number }> = []
  const live = (): number => serving.filter(p => p.state === 'up').length
  const mark = (): void => { liveTimeline.push({ t: init.clock(), live: live() }) }
  mark()

  const stateLog: Array<{ t: number, peer: string, state: ServingState }> = []
  const setState = (p: ServingPeer, state: ServingState): void => {
    p.state = state
    stateLog.push({ t: init.clock(), peer: p.name, state })
    mark()
  }

  return {
    clients,
    serving,
    liveTimeline,
    stateLog,
    live,
    setState,
    async restart (p) {
      setState(p, 'starting')
      const proc = await spawnBenchPeer({ name: p.name, dataDir: p.dataDir, synthetic: { ...init.synthetic, models: [init.model] }, bootstrap, timeoutMs: RESTART_TIMEOUT_MS })
      logTo(proc, p.name)
      p.proc = proc
      p.lives++
      setState(p, 'up')
    },
    async close () {
      for (const p of serving) {
        if (p.state === 'stopped') {
          try { process.kill(p.proc.pid, 'SIGCONT') } catch {}
        }
      }
      await Promise.all([...clients, ...serving.map(p => p.proc)].map(async p => await p.stop(5_000).catch(() => {})))
    }
  }
}

/** The fewest serving peers up at any moment in [from, to], from the timeline. */
export function minLive (timeline: Array<{ t: number, live: number }>, from: number, to: number): number {
  let min = Infinity
  let current = timeline[0]?.live ?? 0
  for (const point of timeline) {
    if (point.t <= from) {
      current = point.live
      continue
    }
    if (point.t > to) break
    min = Math.min(min, current, point.live)
    current = point.live
  }
  return Math.min(min, current)
}
