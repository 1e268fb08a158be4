import type { Announcement, Member, MemberState } from './types.js'
import type { TimingProfile } from './profiles.js'
import { MAX_TRACKED_PEERS } from '../util/capped.js'

/**
 * The replicated cluster view as a pure state machine (memberlist-style):
 * `applyEvent(view, event, timing) → { view, changes }`. No clocks, no I/O —
 * the caller passes `now`, so every transition is a table-testable case.
 *
 * Versions: an announcement's (incarnation, seq) orders everything a peer says about
 * itself. A newer version is proof of life and refutes suspicion; a re-joining peer has
 * a higher incarnation, which also overrides `left` and `dead`.
 */
export interface ClusterView {
  readonly self: string
  readonly members: ReadonlyMap<string, Member>
}

export type ViewEvent =
  /** A validated announcement. `reportedState` is set when it came second-hand in a full view. */
  | { type: 'announce', announcement: Announcement, now: number, reportedState?: MemberState }
  /** Our own probe of the peer (direct and indirect) got no answer. */
  | { type: 'suspect', peerId: string, now: number, reason: string }
  /** A probe of a peer we already suspect failed again, or it cannot be reached at all. */
  | { type: 'unreachable', peerId: string, now: number, reason: string }
  /** A probe of the peer was answered. */
  | { type: 'reachable', peerId: string, now: number }
  /**
   * Another member's verdict, disseminated: it suspects the peer, or holds it dead, as of the
   * peer's version (incarnation, seq). Only a newer announcement from the peer refutes it.
   */
  | { type: 'reported', peerId: string, verdict: 'suspect' | 'dead', incarnation: number, seq: number, from: string, reason: string, now: number }
  /** The clock moved: apply suspicion and retention timeouts. */
  | { type: 'tick', now: number }

export type ViewChange =
  | { kind: 'joined', peerId: string, member: Member }
  | { kind: 'updated', peerId: string, member: Member }
  | { kind: 'state', peerId: string, from: MemberState, to: MemberState, member: Member }
  | { kind: 'removed', peerId: string, member: Member }

export interface ApplyResult {
  view: ClusterView
  changes: ViewChange[]
}

type Timing = Pick<TimingProfile, 'suspicionTimeoutMs' | 'retentionMs'> & {
  /** Members held at most, self included (default MAX_TRACKED_PEERS); see `admit`. */
  maxMembers?: number
}

/** How fresh `lastHeard` of an alive member is kept (it is shown as "last seen"). */
export const LAST_HEARD_RESOLUTION_MS = 1_000

export function emptyView (self: string): ClusterView {
  return { self, members: new Map() }
}

/** -1, 0 or 1 as `a`'s version is older, equal or newer than `b`'s. */
export function compareVersion (a: Pick<Announcement, 'incarnation' | 'seq'>, b: Pick<Announcement, 'incarnation' | 'seq'>): number {
  if (a.incarnation !== b.incarnation) return a.incarnation < b.incarnation ? -1 : 1
  if (a.seq !== b.seq) return a.seq < b.seq ? -1 : 1
  return 0
}

export function applyEvent (view: ClusterView, event: ViewEvent, timing: Timing): ApplyResult {
  switch (event.type) {
    case 'announce': return applyAnnouncement(view, event.announcement, event.now, timing.maxMembers ?? MAX_TRACKED_PEERS, event.reportedState)
    case 'suspect': return transition(view, event.peerId, ['alive'], 'suspect', event.reason, event.now)
    case 'unreachable': return transition(view, event.peerId, ['alive', 'suspect'], 'dead', event.reason, event.now)
    case 'reachable': return applyReachable(view, event.peerId, event.now)
    case 'reported': return applyReport(view, event)
    case 'tick': return applyTick(view, event.now, timing)
  }
}

/**
 * A third party's verdict counts only against the version it names: if we hold a newer
 * announcement of the peer, the peer has spoken since (a refutation) and the verdict is stale.
 */
function applyReport (view: ClusterView, event: Extract<ViewEvent, { type: 'reported' }>): ApplyResult {
  const current = view.members.get(event.peerId)
  if (current == null || compareVersion(current.announcement, event) > 0) return unchanged(view)
  const reason = `${event.reason} (reported by ${event.from.slice(-8)})`
  if (event.verdict === 'suspect') return transition(view, event.peerId, ['alive'], 'suspect', reason, event.now)
  return transition(view, event.peerId, ['alive', 'suspect'], 'dead', reason, event.now)
}

/** Folds several events; convenient for tests and for batches from a full view. */
export function applyEvents (view: ClusterView, events: ViewEvent[], timing: Timing): ApplyResult {
  const changes: ViewChange[] = []
  for (const event of events) {
    const result = applyEvent(view, event, timing)
    view = result.view
    changes.push(...result.changes)
  }
  return { view, changes }
}

function applyAnnouncement (view: ClusterView, ann: Announcement, now: number, maxMembers: number, reportedState?: MemberState): ApplyResult {
  const current = view.members.get(ann.peer_id)
  const announcedState: MemberState = ann.state === 'leaving' ? 'left' : 'alive'

  if (current == null) {
    // Second-hand news that a peer we never knew is gone adds nothing, and re-adding members that
    // were already dropped after retention would keep them lingering forever (memberlist keeps
    // tombstones for this). A suspect report is kept: that peer may well be alive.
    if (reportedState != null && (reportedState === 'dead' || reportedState === 'left' || announcedState === 'left')) return unchanged(view)
    // Otherwise trust the reporter's verdict on it.
    const state = announcedState === 'left' ? 'left' : (reportedState ?? 'alive')
    const member: Member = {
      peerId: ann.peer_id,
      announcement: ann,
      state,
      reason: state === 'left' ? 'left the cluster' : state === 'alive' ? 'joined' : `reported ${state}`,
      stateSince: now,
      lastHeard: now
    }
    return admit(view, member, maxMembers)
  }

  if (compareVersion(ann, current.announcement) <= 0) return unchanged(view)

  let state: MemberState
  if (announcedState === 'left') {
    state = 'left'
  } else if (current.state === 'left' && ann.incarnation === current.announcement.incarnation) {
    // Nothing is said after leaving within one incarnation; only a restart (new incarnation) re-joins.
    state = 'left'
  } else if (reportedState != null && reportedState !== 'alive') {
    // A third party's suspicion does not override what we concluded ourselves.
    state = current.state
  } else {
    state = 'alive'
  }

  const member: Member = {
    ...current,
    announcement: ann,
    state,
    reason: state === current.state && ann.incarnation === current.announcement.incarnation ? current.reason : reasonForRevival(current, ann),
    stateSince: state === current.state ? current.stateSince : now,
    lastHeard: state === 'alive' ? now : current.lastHeard
  }
  const changes: ViewChange[] = []
  if (state !== current.state) {
    changes.push({ kind: 'state', peerId: ann.peer_id, from: current.state, to: state, member })
  } else if (describesDifferently(current.announcement, ann)) {
    changes.push({ kind: 'updated', peerId: ann.peer_id, member })
  }
  return { view: withMember(view, member), changes }
}

/**
 * A new member, within the bound: every map keyed by member (RTTs, breakers, channels, addresses)
 * is as bounded as the view. When full, the member longest dead or gone makes room (removed now
 * rather than at the end of its retention); when every member is alive or suspect, the newcomer
 * is refused: the members we already probe and route to matter more than one more.
 */
function admit (view: ClusterView, member: Member, maxMembers: number): ApplyResult {
  const joined: ViewChange = { kind: 'joined', peerId: member.peerId, member }
  if (view.members.size < maxMembers) return { view: withMember(view, member), changes: [joined] }
  let gone: Member | undefined
  for (const m of view.members.values()) {
    if ((m.state === 'dead' || m.state === 'left') && m.peerId !== view.self && (gone == null || m.stateSince < gone.stateSince)) gone = m
  }
  if (gone == null) return unchanged(view)
  const members = new Map(view.members)
  members.delete(gone.peerId)
  members.set(member.peerId, member)
  return { view: { self: view.self, members }, changes: [{ kind: 'removed', peerId: gone.peerId, member: gone }, joined] }
}

function reasonForRevival (current: Member, ann: Announcement): string {
  if (ann.state === 'leaving') return 'left the cluster'
  if (ann.incarnation > current.announcement.incarnation) return current.state === 'alive' ? 'restarted' : 'rejoined'
  return 'refuted: newer announcement'
}

function applyReachable (view: ClusterView, peerId: string, now: number): ApplyResult {
  const current = view.members.get(peerId)
  if (current == null || current.state === 'left' || current.state === 'dead') return unchanged(view)
  if (current.state === 'alive') {
    // Every message is proof of life, but lastHeard is only shown to humans: refreshing it more
    // often than this would copy the member map on every probe (most of the simulator's CPU).
    if (now - current.lastHeard < LAST_HEARD_RESOLUTION_MS) return unchanged(view)
    return { view: withMember(view, { ...current, lastHeard: now }), changes: [] }
  }
  return transition(view, peerId, ['suspect'], 'alive', 'ping ok', now, { lastHeard: now })
}

function applyTick (view: ClusterView, now: number, timing: Timing): ApplyResult {
  const changes: ViewChange[] = []
  let next = view
  for (const member of view.members.values()) {
    if (member.peerId === view.self) continue
    let result: ApplyResult | undefined
    // Silence alone suspects no one: with SWIM nobody sends heartbeats, failed probes suspect.
    if (member.state === 'suspect' && now - member.stateSince > timing.suspicionTimeoutMs) {
      result = transition(next, member.peerId, ['suspect'], 'dead', 'suspicion timeout', now)
    } else if ((member.state === 'dead' || member.state === 'left') && now - member.stateSince > timing.retentionMs) {
      const members = new Map(next.members)
      members.delete(member.peerId)
      result = { view: { self: next.self, members }, changes: [{ kind: 'removed', peerId: member.peerId, member }] }
    }
    if (result != null) {
      next = result.view
      changes.push(...result.changes)
    }
  }
  return { view: next, changes }
}

function transition (
  view: ClusterView,
  peerId: string,
  allowedFrom: MemberState[],
  to: MemberState,
  reason: string,
  now: number,
  extra: Partial<Member> = {}
): ApplyResult {
  const current = view.members.get(peerId)
  // The local peer is never suspected by itself.
  if (current == null || peerId === view.self || !allowedFrom.includes(current.state)) return unchanged(view)
  const member: Member = { ...current, ...extra, state: to, reason, stateSince: now }
  return {
    view: withMember(view, member),
    changes: [{ kind: 'state', peerId, from: current.state, to, member }]
  }
}

/** True when a human would see a difference (a bare seq bump, as a refutation is, is not one). */
function describesDifferently (a: Announcement, b: Announcement): boolean {
  return a.name !== b.name ||
    a.tier !== b.tier ||
    a.enabled !== b.enabled ||
    a.api_port !== b.api_port ||
    a.version !== b.version ||
    a.incarnation !== b.incarnation ||
    a.load.active !== b.load.active ||
    a.load.queued !== b.load.queued ||
    a.load.capacity !== b.load.capacity ||
    a.models.join('\n') !== b.models.join('\n') ||
    a.addrs.join('\n') !== b.addrs.join('\n')
}

function withMember (view: ClusterView, member: Member): ClusterView {
  const members = new Map(view.members)
  members.set(member.peerId, member)
  return { self: view.self, members }
}

function unchanged (view: ClusterView): ApplyResult {
  return { view, changes: [] }
}
