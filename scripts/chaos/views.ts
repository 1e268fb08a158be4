// What the client peers' views said about the serving peers while the chaos ran, against what
// the processes really were: how long a kill or a freeze took to be noticed, how long a peer
// that was back took to be routable again, and how long a running peer was held not alive.
// Followed through each client peer's /api/cluster/events (pushed, so no polling of busy peers).
import { watchCluster, type ClusterWatch } from '../bench/client.js'
import type { ChaosEvent } from './schedule.js'

export interface ViewPoint { t: number, observer: string, peer: string, state: string }

export interface ViewRecorder {
  points: ViewPoint[]
  /** Whether every observer's view shows every watched peer alive right now. */
  allAlive: () => boolean
  close: () => void
}

export function recordViews (observers: Array<{ name: string, api: string }>, watched: string[], clock: () => number): ViewRecorder {
  const points: ViewPoint[] = []
  const last = new Map<string, string>()
  const watches: ClusterWatch[] = observers.map(o => watchCluster(o.api, members => {
    const t = clock()
    const seen = new Set<string>()
    for (const m of members.values()) {
      if (!watched.includes(m.name)) continue
      seen.add(m.name)
      const key = `${o.name}/${m.name}`
      if (last.get(key) === m.state) continue
      last.set(key, m.state)
      points.push({ t, observer: o.name, peer: m.name, state: m.state })
    }
    for (const name of watched) {
      const key = `${o.name}/${name}`
      if (seen.has(name) || last.get(key) === 'absent' || !last.has(key)) continue
      last.set(key, 'absent')
      points.push({ t, observer: o.name, peer: name, state: 'absent' })
    }
  }))
  const allAlive = (): boolean => observers.every(o => watched.every(name => last.get(`${o.name}/${name}`) === 'alive'))
  return { points, allAlive, close: () => { for (const w of watches) w.close() } }
}

export interface EventTiming {
  t: number
  action: string
  peer: string
  /** kill -9 / SIGSTOP: until every observer showed the peer not alive; null = not before it was back. */
  notAliveEverywhereMs: number | null
  /** restart / SIGCONT: until every observer showed the peer alive again; null = not by the end of the run. */
  aliveEverywhereMs: number | null
}

export interface ViewSummary {
  events: EventTiming[]
  /** Per serving peer, summed over observers: ms its process was up but a view did not show it alive. */
  upButNotAliveMs: Record<string, number>
  /** Per serving peer, summed over observers: ms it was killed or frozen but a view still showed it alive. */
  goneButAliveMs: Record<string, number>
  /** View transitions of serving peers, per observer. */
  transitions: number
}

/**
 * For one observer: at every change, how many serving peers were both running and alive in its
 * view, i.e. candidates that peer could really route to (same shape as the live timeline).
 */
export function routableTimeline (points: ViewPoint[], processLog: Array<{ t: number, peer: string, state: string }>, observer: string, peers: string[]): Array<{ t: number, live: number }> {
  const view = points.filter(p => p.observer === observer)
  const times = [...new Set([0, ...view.map(p => p.t), ...processLog.map(p => p.t)])].sort((a, b) => a - b)
  const latest = <T extends { t: number, peer: string, state: string }>(list: T[], peer: string, t: number, initial: string): string => {
    let s = initial
    for (const x of list) {
      if (x.t > t) break
      if (x.peer === peer) s = x.state
    }
    return s
  }
  // Before its first snapshot the observer's view is unknown: count nothing as routable.
  return times.map(t => ({ t, live: peers.filter(p => latest(processLog, p, t, 'up') === 'up' && latest(view, p, t, 'unknown') === 'alive').length }))
}

/**
 * `processLog` is every serving-peer process state change (`up`, `stopped`, `down`, `starting`)
 * from the cluster; `from`/`to` bound the window that is measured.
 */
export function summarizeViews (points: ViewPoint[], processLog: Array<{ t: number, peer: string, state: string }>, events: ChaosEvent[], observers: string[], peers: string[], from: number, to: number): ViewSummary {
  const stateAt = <T extends { t: number }>(list: T[], t: number, pick: (x: T) => string, initial: string): string => {
    let s = initial
    for (const x of list) {
      if (x.t > t) break
      s = pick(x)
    }
    return s
  }
  const viewOf = (observer: string, peer: string): ViewPoint[] => points.filter(p => p.observer === observer && p.peer === peer)
  const procOf = (peer: string): Array<{ t: number, peer: string, state: string }> => processLog.filter(p => p.peer === peer)

  // Integrate over the merged change points of one (observer, peer) pair.
  const upButNotAliveMs: Record<string, number> = {}
  const goneButAliveMs: Record<string, number> = {}
  for (const peer of peers) {
    upButNotAliveMs[peer] = 0
    goneButAliveMs[peer] = 0
    const proc = procOf(peer)
    for (const observer of observers) {
      const view = viewOf(observer, peer)
      const cuts = [...new Set([from, to, ...proc.map(p => p.t), ...view.map(p => p.t)])].filter(t => t >= from && t <= to).sort((a, b) => a - b)
      for (let i = 0; i + 1 < cuts.length; i++) {
        const a = cuts[i] as number
        const b = cuts[i + 1] as number
        const up = stateAt(proc, a, x => x.state, 'up') === 'up'
        const alive = stateAt(view, a, x => x.state, 'alive') === 'alive'
        if (up && !alive) upButNotAliveMs[peer] += b - a
        if (!up && alive) goneButAliveMs[peer] += b - a
      }
    }
    upButNotAliveMs[peer] = Math.round(upButNotAliveMs[peer])
    goneButAliveMs[peer] = Math.round(goneButAliveMs[peer])
  }

  /** First time at or after `t` when every observer's view satisfies `ok`, before `until`. */
  const firstEverywhere = (peer: string, t: number, until: number, ok: (state: string) => boolean): number | null => {
    const candidates = [t, ...points.filter(p => p.peer === peer && p.t >= t && p.t <= until).map(p => p.t)]
    for (const c of candidates) {
      if (observers.every(o => ok(stateAt(viewOf(o, peer), c, x => x.state, 'alive')))) return Math.round(c - t)
    }
    return null
  }
  const timings: EventTiming[] = []
  for (const e of events) {
    if (e.action === 'kill -9' || e.action === 'SIGSTOP') {
      // Until the process is back (restart or SIGCONT): after that, "not alive" would be a new story.
      const back = events.find(x => x.peer === e.peer && x.t > e.t && (x.action === 'restart' || x.action === 'SIGCONT'))?.t ?? to
      timings.push({ t: e.t, action: e.action, peer: e.peer, notAliveEverywhereMs: firstEverywhere(e.peer, e.t, back, s => s !== 'alive'), aliveEverywhereMs: null })
    } else if (e.action === 'restart' || e.action === 'SIGCONT') {
      const next = events.find(x => x.peer === e.peer && x.t > e.t && (x.action === 'kill -9' || x.action === 'SIGSTOP'))?.t ?? Infinity
      timings.push({ t: e.t, action: e.action, peer: e.peer, notAliveEverywhereMs: null, aliveEverywhereMs: firstEverywhere(e.peer, e.t, next, s => s === 'alive') })
    }
  }
  return { events: timings, upButNotAliveMs, goneButAliveMs, transitions: points.length }
}
