import type { ViewChange } from './view.js'
import type { Logger } from '../log.js'

/** One log line per change a human cares about (joins, state changes, removals; not load updates). */
export function logViewChange (log: Logger, selfId: string, change: ViewChange): void {
  if (change.peerId === selfId) return
  const m = change.member
  const who = { peer: change.peerId, name: m.announcement.name }
  if (change.kind === 'joined') log.info(who, `${m.announcement.name} joined (${m.state})`)
  else if (change.kind === 'state') log.info({ ...who, reason: m.reason }, `${m.announcement.name}: ${change.from} → ${change.to}`)
  else if (change.kind === 'removed') log.info(who, `${m.announcement.name} removed from the view`)
}
