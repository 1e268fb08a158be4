// Two peers with one name (both default to the hostname: two `start`s on one machine) made the mesh
// hold two members called `vm`, and names are how users, the cluster file and the router's disabled
// list refer to peers (issue 27). The peer that came later yields: it takes the first free
// `<name>-2`, `-3`, … and says so. Pure rule here (table-tested); `watchNameClash` applies it.
import type { Membership } from './service.js'
import type { MemberState } from './types.js'
import type { Logger } from '../log.js'

export interface NameHolder {
  peerId: string
  name: string
  state: MemberState
  /** When the peer's process started (the announcement's incarnation): the later one yields. */
  incarnation: number
}

/** Members that hold their name: a dead or departed peer's name is free again. */
const holdsName = (m: NameHolder): boolean => m.state === 'alive' || m.state === 'suspect'

/**
 * The name this peer must take because another live peer already holds its own, or undefined when
 * it keeps it. Of two peers announcing one name, the one with the later incarnation (started
 * later) yields; on a tie the larger peer id does, so both sides agree without talking.
 */
export function distinctName (self: NameHolder, members: Iterable<NameHolder>): string | undefined {
  const live = [...members].filter(m => m.peerId !== self.peerId && holdsName(m))
  const rival = live.find(m => m.name === self.name && yieldsTo(self, m))
  if (rival == null) return undefined
  const taken = new Set(live.map(m => m.name))
  const base = self.name
  for (let n = 2; ; n++) {
    const candidate = `${base}-${n}`
    if (!taken.has(candidate)) return candidate
  }
}

function yieldsTo (self: NameHolder, other: NameHolder): boolean {
  if (self.incarnation !== other.incarnation) return self.incarnation > other.incarnation
  return self.peerId > other.peerId
}

export interface NameClashWatch {
  stop: () => void
}

/**
 * Re-checks our name on every view change. On a clash we must yield, takes the distinct name,
 * announces it (with the name we asked for) and tells `onRename`; once our own name is free again
 * (the holder died or left: e.g. this machine restarted with a new identity before the old one was
 * declared dead), takes it back.
 */
export function watchNameClash (membership: Pick<Membership, 'view' | 'updateSelf' | 'addEventListener' | 'removeEventListener'>, selfId: string, logger: Logger, onRename: (name: string, heldBy: string | undefined) => void): NameClashWatch {
  // Our newest name: the view shows it only once the new announcement is signed.
  let current: string | undefined
  let wanted: string | undefined
  const check = (): void => {
    const view = membership.view()
    const me = view.members.get(selfId)
    if (me == null) return
    wanted ??= me.announcement.name
    current ??= wanted
    const holders = [...view.members.values()].map(m => ({ peerId: m.peerId, name: m.announcement.name, state: m.state, incarnation: m.announcement.incarnation }))
    const next = distinctName({ peerId: selfId, name: wanted, state: me.state, incarnation: me.announcement.incarnation }, holders) ?? wanted
    if (next === current) return
    current = next
    if (next === wanted) {
      logger.info(`name "${wanted}" is free again; this peer takes it back`)
      membership.updateSelf({ name: wanted, wanted_name: undefined })
      onRename(wanted, undefined)
      return
    }
    const heldBy = holders.find(h => h.peerId !== selfId && h.name === wanted && (h.state === 'alive' || h.state === 'suspect'))?.peerId
    logger.warn(`name "${wanted}" is already held by peer ${heldBy ?? 'another peer'}, which started first; this peer is now "${next}" (start it with --name to choose)`)
    // The name it asked for travels along, so every view can show the clash.
    membership.updateSelf({ name: next, wanted_name: wanted })
    onRename(next, heldBy)
  }
  const listener = (): void => { check() }
  membership.addEventListener('change', listener)
  check()
  return { stop: () => { membership.removeEventListener('change', listener) } }
}
