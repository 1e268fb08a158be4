import type { ClusterView } from './view.js'

/** The members, as the schedulers pick from them; rebuilt only when a member joins, leaves or changes state. */
export interface Targets {
  /** Alive and suspect: the probe rotation and gossip targets. */
  pool: string[]
  dead: string[]
  /** Alive: who may relay a probe or take a push-pull. */
  relays: string[]
  /** Members with a timeout running (suspect, dead, left): the tick has work only while there are some. */
  timed: number
}

/** Pure: the view's members (not us) sorted into what each scheduler picks from. */
export function targetsOf (view: ClusterView): Targets {
  const t: Targets = { pool: [], dead: [], relays: [], timed: 0 }
  for (const m of view.members.values()) {
    if (m.peerId === view.self) continue
    if (m.state !== 'alive') t.timed++
    if (m.state === 'alive') {
      t.pool.push(m.peerId)
      t.relays.push(m.peerId)
    } else if (m.state === 'suspect') {
      t.pool.push(m.peerId)
    } else if (m.state === 'dead') {
      t.dead.push(m.peerId)
    }
  }
  return t
}
