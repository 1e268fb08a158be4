import type { RttEstimate } from './rtt.js'
import type { PeerId, PrivateKey } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { TypedEventEmitter } from 'main-event'
import type { MeshNode } from '../mesh/node.js'
import type { Logger } from '../log.js'
import { signAnnouncement, verifyAnnouncement } from './announcement.js'
import { realClock } from './clock.js'
import { createLibp2pTransport, type Libp2pTransport } from './libp2p-transport.js'
import { createAnnouncementTopic, MAX_TOPIC_RECORDS, type AnnouncementTopic } from './announcement-topic.js'
import { Swim, type SelfDescription } from './swim.js'
import type { TimingProfile } from './profiles.js'
import type { Member } from './types.js'
import type { ClusterView, ViewChange } from './view.js'
import type { MessageCounts } from './transport.js'
import type { BoundedRegistry } from '../util/bounded-registry.js'
import { MAX_TRACKED_PEERS } from '../util/capped.js'
import { addressesChanged, deferHangUp, exchangeDue, MAX_EXCHANGED_AT, type DeferredHangUp } from './member-maps.js'
import { MAX_CONNECTIONS } from '../mesh/constants.js'

export type { SelfDescription } from './swim.js'

export interface MembershipInit {
  self: SelfDescription
  /** Signs our announcements, so peers can check them whoever relays them. */
  privateKey: PrivateKey
  timing: TimingProfile
  logger: Logger
  /**
   * Whether a peer is part-way through streaming an answer to us. Such a peer, declared dead, keeps
   * its connections for `timing.answeringGraceMs`: a frozen process that resumes finishes the answer.
   */
  isAnswering?: (peerId: string) => boolean
  /** Whether we closed our connection to a peer on purpose (an idle one trimmed): nothing to probe then. */
  closedOnPurpose?: (peerId: string) => boolean
  /** Where the per-member structures are registered with their bounds (/metrics, the soak). */
  bounded?: BoundedRegistry
}

export interface MembershipEvents {
  change: CustomEvent<ViewChange>
}

export interface Membership extends TypedEventEmitter<MembershipEvents> {
  start: () => Promise<void>
  /** Announce `leaving` so others mark us `left` at once, then stop. Idempotent. */
  leave: (signal?: AbortSignal) => Promise<void>
  stop: () => Promise<void>
  view: () => ClusterView
  /** Change what we announce (load, models…); it is spread as a change. */
  updateSelf: (patch: Partial<SelfDescription>) => void
  /** Smoothed round trip of membership probes per peer (ms): what routing sorts by. */
  latencies: () => ReadonlyMap<string, number>
  /** Median of recent probe round trips per peer (ms): what status, test, the dashboard and /metrics show. */
  rttMedians: () => Map<string, number>
  /** One peer's estimate (median, smoothed RTT and its variance). */
  rtt: (peer: string) => RttEstimate | undefined
  /** Members worth keeping a connection to while the connection budget allows. */
  dialTargets: () => Array<{ peerId: string, addrs: string[] }>
  /** Membership messages since start, for /metrics. */
  gossipCounts: () => GossipCounts
}

export type GossipCounts = MessageCounts

/** Upper bound for telling members we leave; stop must not hang on a dead link. */
const LEAVE_TIMEOUT_MS = 1_000

/**
 * Membership on a libp2p node: SWIM (swim.ts) over libp2p streams and the gossipsub topic for our
 * announcements (announcement-topic.ts), plus what only a real mesh needs — members' addresses
 * into the peer store (so any member can be dialed by id), a push-pull on a new connection (a
 * joiner converges in one round trip; gossipsub keeps no history), a probe when a connection
 * closes (killed, or just idle-closed?), and hanging up on members declared dead.
 */
class MembershipService extends TypedEventEmitter<MembershipEvents> implements Membership {
  private readonly node: MeshNode
  private readonly init: MembershipInit
  private readonly log: Logger
  private readonly transport: Libp2pTransport
  private readonly topic: AnnouncementTopic
  private readonly swim: Swim
  private running = false
  /** Dead peers still streaming to us: when their connections go anyway (see `isAnswering`). */
  private readonly hangUpAt = new Map<string, DeferredHangUp>()
  private readonly storedAddrs = new Map<string, string>()
  private readonly exchangedAt = new Map<string, number>()
  private graceTimer?: NodeJS.Timeout

  constructor (node: MeshNode, init: MembershipInit) {
    super()
    this.node = node
    this.init = init
    this.log = init.logger
    this.transport = createLibp2pTransport(node, init.logger)
    const selfId = node.peerId.toString()
    this.topic = createAnnouncementTopic({
      pubsub: node.services.pubsub,
      selfId,
      held: peerId => this.swim.view().members.get(peerId)?.announcement,
      verify: verifyAnnouncement,
      onAnnouncement: (from, ann) => { this.swim.receiveAnnouncement(from, ann) },
      onListener: () => { this.swim.topicListenerAppeared() },
      logger: init.logger
    })
    this.swim = new Swim({
      selfId,
      self: init.self,
      addrs: () => node.getMultiaddrs().map(a => a.toString()),
      transport: this.transport,
      topic: { publish: async ann => await this.topic.publish(ann), listeners: () => this.topic.listeners() },
      signer: {
        sign: async ann => await signAnnouncement(ann, init.privateKey),
        verify: verifyAnnouncement
      },
      clock: realClock,
      timing: init.timing,
      logger: init.logger,
      // Wall-clock ms at start: grows across restarts without storing anything.
      incarnation: Date.now()
    })
    this.swim.addEventListener('change', this.onChange)
    this.registerBounds(init.bounded)
  }

  /**
   * Each structure keyed by member, with its bound. The view holds at most MAX_TRACKED_PEERS
   * (view.ts, `admit`); RTTs, queued broadcasts, stored addresses and deferred hang-ups are
   * forgotten with the member (and each capped as well, member-maps.ts), so the view bounds them.
   */
  private registerBounds (bounded: BoundedRegistry | undefined): void {
    if (bounded == null) return
    const perMember: Array<[string, () => number]> = [
      ['membership.members', () => this.swim.view().members.size],
      ['membership.rtt', () => this.swim.rtts.size],
      ['membership.broadcasts', () => this.swim.queuedUpdates],
      ['membership.stored-addrs', () => this.storedAddrs.size],
      ['membership.hang-ups', () => this.hangUpAt.size]
    ]
    for (const [name, size] of perMember) bounded.register({ name, limit: MAX_TRACKED_PEERS, size })
    // One channel per peer with a live membership stream: no more than the open connections.
    bounded.register({ name: 'membership.channels', limit: MAX_CONNECTIONS, size: () => this.transport.channels })
    bounded.register({ name: 'membership.topic-versions', limit: MAX_TOPIC_RECORDS, size: () => this.topic.records })
    // Cleared as soon as an insert takes it past the bound.
    bounded.register({ name: 'membership.exchanged-at', limit: MAX_EXCHANGED_AT, size: () => this.exchangedAt.size })
  }

  view (): ClusterView {
    return this.swim.view()
  }

  latencies (): ReadonlyMap<string, number> {
    return this.swim.rtts.smoothed()
  }

  /** The median of recent probe round trips by member: what users are shown. */
  rttMedians (): Map<string, number> {
    return this.swim.rtts.medians()
  }

  /** Round-trip estimates by member (median of recent probes, smoothed RTT and its variance). */
  rtt (peer: string): RttEstimate | undefined {
    return this.swim.rtts.get(peer)
  }

  gossipCounts (): GossipCounts {
    const c = this.swim.counts
    return { in: c.in, out: c.out + this.topic.counts.published, rejected: c.rejected + this.transport.rejected + this.topic.counts.rejected }
  }

  async start (): Promise<void> {
    if (this.running) return
    this.running = true
    await this.transport.start()
    // Subscribed before our join is published, so the members we meet see us as a topic peer.
    this.topic.start()
    await this.swim.start()
    this.node.addEventListener('peer:connect', this.onConnect)
    this.node.addEventListener('peer:disconnect', this.onDisconnect)
    this.node.addEventListener('self:peer:update', this.onSelfUpdate)
    // Peers already connected before start (none in normal use) still get our view.
    for (const peer of this.node.getPeers()) this.exchangeOnConnect(peer.toString())
  }

  async leave (signal?: AbortSignal): Promise<void> {
    if (!this.running) return
    await this.swim.leave(signal ?? AbortSignal.timeout(LEAVE_TIMEOUT_MS))
  }

  async stop (): Promise<void> {
    if (!this.running) return
    this.running = false
    clearTimeout(this.graceTimer)
    this.swim.stop()
    this.topic.stop()
    this.node.removeEventListener('peer:connect', this.onConnect)
    this.node.removeEventListener('peer:disconnect', this.onDisconnect)
    this.node.removeEventListener('self:peer:update', this.onSelfUpdate)
    await this.transport.stop()
  }

  updateSelf (patch: Partial<SelfDescription>): void {
    this.swim.updateSelf(patch)
  }

  dialTargets (): Array<{ peerId: string, addrs: string[] }> {
    const self = this.node.peerId.toString()
    return [...this.swim.view().members.values()]
      .filter(m => m.peerId !== self && m.state === 'alive')
      .map(m => ({ peerId: m.peerId, addrs: m.announcement.addrs }))
  }

  private readonly onChange = (event: CustomEvent<ViewChange>): void => {
    const change = event.detail
    if (change.peerId === this.node.peerId.toString()) {
      this.safeDispatchEvent('change', { detail: change })
      return
    }
    if (change.kind === 'state' && change.to === 'dead') this.hangUp(change.peerId, change.member.reason)
    if (change.kind === 'joined' || change.kind === 'updated' || (change.kind === 'state' && change.to === 'alive')) this.learnAddresses(change.member)
    if (change.kind === 'removed') {
      this.topic.forget(change.peerId)
      this.storedAddrs.delete(change.peerId)
      this.hangUpAt.delete(change.peerId)
      this.exchangedAt.delete(change.peerId)
    }
    this.safeDispatchEvent('change', { detail: change })
  }

  /** Our addresses may have changed (a new listener, an observed address): announced if they did. */
  private readonly onSelfUpdate = (): void => {
    this.swim.addressesMayHaveChanged()
  }

  private readonly onConnect = (event: CustomEvent<PeerId>): void => {
    // One push-pull per connection carries both views: the side that dialed starts it. Both sides
    // starting one doubled the full views (and their signature checks) a start wave moves.
    if (!this.node.getConnections(event.detail).some(c => c.direction === 'outbound')) return
    this.exchangeOnConnect(event.detail.toString())
  }

  /** A joiner learns the whole view from its first contacts; an on-demand dial later costs no full view. */
  private exchangeOnConnect (peer: string): void {
    if (!exchangeDue(this.exchangedAt, peer, Date.now())) return
    void this.swim.exchangeViews(peer)
  }

  /**
   * Killed (kill -9 closes its sockets), or an idle connection closed by either side? Others tell:
   * asking them costs no dial back to a peer that meant to hang up on us.
   */
  private readonly onDisconnect = (event: CustomEvent<PeerId>): void => {
    const peer = event.detail.toString()
    if (this.init.closedOnPurpose?.(peer) === true) return
    this.swim.probeNow(peer, 'relays')
  }

  /**
   * A member heard of second-hand may never have been connected: its announced addresses go into
   * the peer store, so a probe or a completion can dial it by id.
   */
  private learnAddresses (member: Member): void {
    // Load changes make `updated` events; the peer store is locked per write.
    if (!addressesChanged(this.storedAddrs, member.peerId, member.announcement.addrs.join(' '))) return
    const addrs = member.announcement.addrs.flatMap(a => {
      try { return [multiaddr(a)] } catch { return [] }
    })
    if (addrs.length === 0) return
    this.node.peerStore.merge(peerIdFromString(member.peerId), { multiaddrs: addrs }).catch((err: any) => {
      this.log.debug({ peer: member.peerId }, `cannot store addresses: ${err?.message ?? err}`)
    })
  }

  /**
   * A member declared dead may still hold open connections (a stopped process, a cut cable): abort
   * them, so requests waiting on it fail over now instead of at their first-token timeout, and the
   * next contact is a fresh dial instead of a stale TCP connection.
   */
  private hangUp (peerId: string, reason: string): void {
    if (this.init.isAnswering?.(peerId) === true && deferHangUp(this.hangUpAt, peerId, { at: Date.now() + this.init.timing.answeringGraceMs, reason })) {
      this.scheduleGraceCheck()
      return
    }
    this.hangUpAt.delete(peerId)
    for (const connection of this.node.getConnections(peerIdFromString(peerId))) {
      connection.abort(new Error(`peer declared dead: ${reason}`))
    }
  }

  /** Dead peers kept for an answer in flight: hung up once the answer ends, the peer revives, or the grace runs out. */
  private scheduleGraceCheck (): void {
    if (this.graceTimer != null || !this.running) return
    this.graceTimer = setTimeout(() => {
      this.graceTimer = undefined
      const now = Date.now()
      for (const [peerId, deferred] of this.hangUpAt) {
        const member = this.swim.view().members.get(peerId)
        if (member?.state !== 'dead') this.hangUpAt.delete(peerId)
        else if (now >= deferred.at || this.init.isAnswering?.(peerId) !== true) this.hangUp(peerId, deferred.reason)
      }
      if (this.hangUpAt.size > 0) this.scheduleGraceCheck()
    }, this.init.timing.tickMs)
    this.graceTimer.unref()
  }
}

export function createMembership (node: MeshNode, init: MembershipInit): Membership {
  return new MembershipService(node, init)
}

export type { Member, ClusterView, ViewChange }
