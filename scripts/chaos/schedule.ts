// The chaos schedule: from a seeded PRNG, at random intervals, kill -9 a serving peer (restarted
// on the same data directory after a random down time) or freeze one with SIGSTOP for a few
// seconds (then SIGCONT). Never the last live serving peer: the run measures failover while a
// candidate exists, not "no peer at all".
import { mulberry32 } from '../../src/util/prng.js'
import type { ChaosCluster, ServingPeer } from './cluster.js'

export interface ChaosEvent {
  /** ms since the run started. */
  t: number
  action: 'kill -9' | 'restart' | 'restart failed' | 'SIGSTOP' | 'SIGCONT' | 'skip'
  peer: string
  /** e.g. how long the peer was frozen, how long a restart took. */
  detail?: string
}

export interface ScheduleInit {
  seed: number
  cluster: ChaosCluster
  clock: () => number
  /** Chaos starts at `from` and no new action starts after `until` (ms since the run started). */
  from: number
  until: number
  onEvent: (e: ChaosEvent) => void
}

/** A new action every 1.5–4 s: about one per peer every ~8 s, with overlaps. */
const GAP_MS: [number, number] = [1_500, 4_000]
/** A killed peer stays down 0.5–3 s before its restart is spawned (the restart itself takes ~1–3 s). */
const DOWN_MS: [number, number] = [500, 3_000]
/**
 * SIGSTOP for 1–9 s: a short freeze (GC pause, swapped out) up to past the lan profile's
 * suspicion (3 s silence → suspect, + 5 s → dead), so refutation after SIGCONT is exercised too.
 */
const STOP_MS: [number, number] = [1_000, 9_000]
/** Share of actions that are kill -9 (the rest SIGSTOP). */
const KILL_SHARE = 0.5

export interface Schedule {
  /** Resolves when every action started has finished (peers resumed, restarts ready or failed). */
  done: Promise<void>
}

export function runSchedule (init: ScheduleInit): Schedule {
  const rand = mulberry32(init.seed)
  const between = ([lo, hi]: [number, number]): number => Math.round(lo + rand() * (hi - lo))
  const { cluster } = init
  const running: Array<Promise<void>> = []
  const event = (action: ChaosEvent['action'], peer: string, detail?: string): void => {
    init.onEvent({ t: Math.round(init.clock()), action, peer, ...(detail != null ? { detail } : {}) })
  }

  const kill = async (p: ServingPeer, downMs: number): Promise<void> => {
    cluster.setState(p, 'down')
    event('kill -9', p.name, `down ${downMs} ms before restart`)
    await p.proc.kill()
    await sleep(downMs)
    for (let attempt = 1; attempt <= 2; attempt++) {
      const start = init.clock()
      try {
        await cluster.restart(p)
        event('restart', p.name, `ready ${Math.round(init.clock() - start)} ms after spawn (life ${p.lives})`)
        return
      } catch (err: any) {
        cluster.setState(p, 'down')
        event('restart failed', p.name, `attempt ${attempt}: ${String(err?.message ?? err).split('\n')[0]}`)
      }
    }
  }

  const freeze = async (p: ServingPeer, stopMs: number): Promise<void> => {
    cluster.setState(p, 'stopped')
    process.kill(p.proc.pid, 'SIGSTOP')
    event('SIGSTOP', p.name, `for ${stopMs} ms`)
    await sleep(stopMs)
    process.kill(p.proc.pid, 'SIGCONT')
    cluster.setState(p, 'up')
    event('SIGCONT', p.name, `after ${stopMs} ms`)
  }

  const loop = async (): Promise<void> => {
    await sleep(Math.max(0, init.from - init.clock()))
    while (true) {
      // Every draw happens whether or not it is used, so one skipped action does not shift the rest of the sequence.
      const gap = between(GAP_MS)
      const pick = rand()
      const isKill = rand() < KILL_SHARE
      const downMs = between(DOWN_MS)
      const stopMs = between(STOP_MS)
      if (init.clock() >= init.until) break
      const up = cluster.serving.filter(p => p.state === 'up')
      if (up.length >= 2) {
        const victim = up[Math.floor(pick * up.length)] as ServingPeer
        running.push((isKill ? kill(victim, downMs) : freeze(victim, stopMs)).catch((err: any) => {
          event('skip', victim.name, `action failed: ${String(err?.message ?? err)}`)
        }))
      } else {
        event('skip', up[0]?.name ?? '-', 'only one serving peer is up')
      }
      await sleep(Math.min(gap, Math.max(0, init.until - init.clock())))
    }
    await Promise.all(running)
  }
  return { done: loop() }
}

async function sleep (ms: number): Promise<void> {
  await new Promise(resolve => setTimeout(resolve, ms))
}
