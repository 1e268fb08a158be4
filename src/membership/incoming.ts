import { compareVersion, type ClusterView, type ViewChange, type ViewEvent } from './view.js'
import type { ViewEntry } from './announcement.js'
import type { Seen, SwimReply, SwimRequest, Update } from './messages.js'
import type { MembershipHandlers, MessageCounts } from './transport.js'
import type { AnnouncementSigner } from './self-announcer.js'
import type { Dissemination } from './dissemination.js'
import type { RttTable } from './rtt.js'
import type { Announcement } from './types.js'
import type { Logger } from '../log.js'

/**
 * What arrives, and what it does to the view: SWIM requests and replies, their piggybacked updates,
 * full views from push-pull, and announcements already checked at the gossipsub topic's door.
 * The wiring (probing, dissemination, anti-entropy, our own announcement) is swim.ts's; this module
 * only reads the view and dispatches events to it through `dispatch`.
 */
export interface IncomingInit {
  selfId: string
  logger: Logger
  signer: Pick<AnnouncementSigner, 'verify'>
  /** Shared with swim.ts: messages in and out for /metrics. */
  counts: MessageCounts
  dissemination: Pick<Dissemination, 'enqueue' | 'piggyback' | 'isQueued'>
  rtts: Pick<RttTable, 'add'>
  now: () => number
  view: () => ClusterView
  dispatch: (event: ViewEvent) => ViewChange[]
  /** Pings `target` on a prober's behalf (an indirect probe): whether it answered. */
  relay: (target: string) => Promise<boolean>
  /** Our newest announcement, sent back in an ack when the prober's copy is older. */
  mine: () => Announcement | undefined
  /** Someone holds us `state` as of `version`: announce something newer if we have not already. */
  refuteIfNeeded: (state: string, version: { incarnation: number, seq: number }) => Promise<void>
  /** What we hold about `peer`, sent with our replies so it can refute at once. */
  seen: (peer: string) => Seen | undefined
  /** Our full view for a push-pull. */
  entries: () => ViewEntry[]
  /**
   * A member joined (or restarted) and we heard it first-hand, in its own push-pull: we are a
   * first contact, so its join is published on the topic for it (see `applyAnnouncement`).
   */
  relayJoin?: (ann: Announcement) => void
}

export interface Incoming {
  /** Handlers for the transport: requests and full views from other members. */
  readonly handlers: MembershipHandlers
  /** A reply to one of our requests (direct or relayed probe, gossip), with a round trip where one was timed. */
  onReply: (from: string, reply: SwimReply, rttMs: number | undefined) => void
  /** A full view received in a push-pull we started. */
  applyEntries: (from: string, entries: ViewEntry[]) => Promise<void>
  /** An announcement accepted by the gossipsub topic's validator (its signature is checked). */
  applyVerified: (from: string, ann: Announcement) => void
}

export function createIncoming (init: IncomingInit): Incoming {
  const log = init.logger

  const reply = (r: SwimReply): SwimReply => {
    init.counts.out++
    return r
  }

  const onRequest = async (from: string, message: SwimRequest): Promise<SwimReply> => {
    init.counts.in++
    applyUpdates(from, message.updates)
    // Any message is proof of life of its sender.
    init.dispatch({ type: 'reachable', peerId: from, now: init.now() })
    switch (message.type) {
      case 'ping': {
        if (message.seen != null) await init.refuteIfNeeded(message.seen.state, message.seen)
        const mine = init.mine()
        // The prober's copy of us is older (a load change since, say): the newer one rides the ack.
        const self = mine != null && (message.seen == null || compareVersion(mine, message.seen) > 0) ? mine : undefined
        return reply({ type: 'ack', seen: init.seen(from), ...(self != null ? { self } : {}), updates: init.dissemination.piggyback() })
      }
      case 'ping-req': {
        const acked = await init.relay(message.target)
        return reply({ type: acked ? 'ack' : 'nack', updates: init.dissemination.piggyback() })
      }
      case 'gossip':
        return reply({ type: 'ack', updates: [] })
    }
  }

  const onReply = (from: string, r: SwimReply, rttMs: number | undefined): void => {
    applyUpdates(from, r.updates)
    if (r.type !== 'ack') return
    if (r.self != null) applyUpdates(from, [{ type: 'alive', announcement: r.self }])
    if (rttMs != null) init.rtts.add(from, rttMs)
    if (r.seen != null) void init.refuteIfNeeded(r.seen.state, r.seen)
  }

  /** Applies disseminated updates; each one that changed our view is passed on (infection-style). */
  const applyUpdates = (from: string, updates: Update[]): void => {
    for (const update of updates) {
      if (update.type === 'alive') {
        void applyAnnouncement(from, update.announcement)
        continue
      }
      if (update.peer_id === init.selfId) {
        void init.refuteIfNeeded(update.type, update)
        continue
      }
      const changed = changedState(init.dispatch({
        type: 'reported',
        peerId: update.peer_id,
        verdict: update.type,
        incarnation: update.incarnation,
        seq: update.seq,
        from: update.from,
        reason: update.type === 'dead' ? update.reason : 'suspected',
        now: init.now()
      }))
      if (changed) init.dissemination.enqueue(update)
    }
  }

  /**
   * An announcement counts only with its subject's own signature (whoever relayed it), and only a
   * newer version than ours is checked at all: each (peer, incarnation, seq) is verified once.
   * What SWIM or a push-pull brought and we took is passed on over SWIM: that is a load change, a
   * refutation, or a repair of what the topic missed. Not passed on: a member new to us that a
   * full view listed, unless it is the view's sender (a joiner's first contact spreads its join).
   * The sender had it, and the member's own join went out on the topic and over SWIM; a newcomer
   * re-spreading every member of its first view was most of a start wave's SWIM traffic.
   * A joiner's first contact also publishes the join on the topic (`relayJoin`): the joiner's own
   * publish waits for a gossipsub subscription to come back over its new connections (0.3–2.3 s in a
   * 20-process start wave), while a contact that has been up a while holds topic streams to all its
   * connected members already. Same bytes, same message id: gossipsub drops whichever copy is second.
   */
  const applyAnnouncement = async (from: string, ann: Announcement, reportedState?: ViewEntry['state']): Promise<void> => {
    if (ann.peer_id === init.selfId) {
      if (reportedState != null) await init.refuteIfNeeded(reportedState, ann)
      return
    }
    if (!isNewer(ann)) return
    const held = init.view().members.get(ann.peer_id)?.announcement
    if (!await init.signer.verify(ann)) {
      init.counts.rejected++
      log.warn({ peer: from }, `announcement of ${ann.peer_id} without a valid signature of its peer dropped`)
      return
    }
    const firstHand = ann.peer_id === from
    const news = reportedState == null || firstHand || init.view().members.has(ann.peer_id)
    // Checked again: another copy may have been taken while the signature was checked.
    if (!take(ann, reportedState)) return
    if (news) init.dissemination.enqueue({ type: 'alive', announcement: ann })
    if (reportedState != null && firstHand && (held == null || held.incarnation < ann.incarnation)) init.relayJoin?.(ann)
  }

  /** Applies `ann` if it is still newer; true when the view took it as its member's announcement. */
  const take = (ann: Announcement, reportedState?: ViewEntry['state']): boolean => {
    if (!isNewer(ann)) return false
    const event: ViewEvent = { type: 'announce', announcement: ann, now: init.now() }
    if (reportedState != null) event.reportedState = reportedState
    init.dispatch(event)
    // Taken only if it is now the member's announcement (second-hand news of strangers that are gone is not).
    return init.view().members.get(ann.peer_id)?.announcement === ann
  }

  const isNewer = (ann: Announcement): boolean => {
    const known = init.view().members.get(ann.peer_id)
    return known == null || compareVersion(ann, known.announcement) > 0
  }

  return {
    handlers: {
      onRequest,
      onViewExchange: async (from, entries) => {
        init.counts.in++
        await applyEntries(from, entries)
        init.counts.out++
        return init.entries()
      }
    },
    onReply,
    applyEntries: async (from, entries) => { await applyEntries(from, entries) },
    applyVerified (_from, ann) {
      init.counts.in++
      if (ann.peer_id === init.selfId) return
      // Gossipsub forwards it; SWIM passes it on only to chase what its queue still spreads about
      // that peer (a verdict, an older version): the queue keeps the latest word per peer.
      if (take(ann) && init.dissemination.isQueued(ann.peer_id)) init.dissemination.enqueue({ type: 'alive', announcement: ann })
    }
  }

  async function applyEntries (from: string, entries: ViewEntry[]): Promise<void> {
    await Promise.all(entries.map(async e => { await applyAnnouncement(from, e.announcement, e.state) }))
  }
}

function changedState (changes: ViewChange[]): boolean {
  return changes.some(c => c.kind === 'state')
}
