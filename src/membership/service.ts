import { TopicValidatorResult, type Message, type PeerId, type PrivateKey } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { TypedEventEmitter } from 'main-event'
import { MEMBERSHIP_TOPIC, VIEW_PROTOCOL, VIEW_EXCHANGE_TIMEOUT_MS } from '../mesh/constants.js'
import type { MeshNode } from '../mesh/node.js'
import type { Logger } from '../log.js'
import { decodeAnnouncement, encodeAnnouncement, signAnnouncement, verifyAnnouncement, type ViewEntry } from './announcement.js'
import type { TimingProfile } from './profiles.js'
import type { Announcement, Load, Member, Tier } from './types.js'
import { applyEvent, emptyView, type ClusterView, type ViewChange, type ViewEvent } from './view.js'
import { readView, sendView } from './view-sync.js'
import { LocalHealth } from './local-health.js'

/** What this peer says about itself; the membership service adds identity and versions. */
export interface SelfDescription {
  name: string
  models: string[]
  tier: Tier
  enabled: boolean
  load: Load
  apiPort: number
  version: string
}

export interface MembershipInit {
  self: SelfDescription
  /** Signs our announcements, so peers can check them when they arrive second-hand. */
  privateKey: PrivateKey
  timing: TimingProfile
  logger: Logger
  /** Injected clock for tests; wall-clock ms by default. */
  now?: () => number
  /**
   * Whether a peer is part-way through streaming an answer to us. Such a peer, declared dead, keeps
   * its connections for `timing.answeringGraceMs`: a frozen process that resumes finishes the answer.
   */
  isAnswering?: (peerId: string) => boolean
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
  /** Change what we announce (load, models…); it is announced at once. */
  updateSelf: (patch: Partial<SelfDescription>) => void
  latencies: () => ReadonlyMap<string, number>
  dialTargets: () => Array<{ peerId: string, addrs: string[] }>
  /** Announcements on the membership topic since start, for /metrics. */
  gossipCounts: () => GossipCounts
}

export interface GossipCounts {
  /** Accepted and delivered to us. */
  in: number
  /** Published by us. */
  out: number
  /** Refused by the validator (unsigned, malformed, oversize, forged). */
  rejected: number
}

/** Upper bound for telling connected peers we leave; stop must not hang on a dead link. */
const LEAVE_TIMEOUT_MS = 1_000

/** Measure round trips to alive peers every this many heartbeats. */
const LATENCY_SAMPLE_EVERY = 5

class MembershipService extends TypedEventEmitter<MembershipEvents> implements Membership {
  private readonly node: MeshNode
  private readonly init: MembershipInit
  private readonly log: Logger
  private readonly now: () => number
  private readonly selfId: string
  private readonly incarnation: number
  private description: SelfDescription
  private seq = 0
  private state: ClusterView
  private running = false
  private leaving = false
  private heartbeatTimer?: NodeJS.Timeout
  private tickTimer?: NodeJS.Timeout
  private readonly health: LocalHealth
  private readonly probing = new Set<string>()
  /** When each dead member was last pinged to reconnect it. */
  private readonly reconnectedAt = new Map<string, number>()
  /** Dead peers still streaming to us: when their connections go anyway (see `isAnswering`). */
  private readonly hangUpAt = new Map<string, { at: number, reason: string }>()
  private readonly rtts = new Map<string, number>()
  private readonly storedAddrs = new Map<string, string>()
  private heartbeats = 0
  private readonly gossip: GossipCounts = { in: 0, out: 0, rejected: 0 }

  constructor (node: MeshNode, init: MembershipInit) {
    super()
    this.node = node
    this.init = init
    this.log = init.logger
    this.now = init.now ?? Date.now
    this.selfId = node.peerId.toString()
    // Wall-clock ms at start: grows across restarts without storing anything.
    this.incarnation = Date.now()
    this.description = { ...init.self }
    this.state = emptyView(this.selfId)
    this.health = new LocalHealth(init.timing.tickMs)
  }

  view (): ClusterView {
    return this.state
  }

  /** Last measured mesh round trip per peer (ms); routing prefers close peers. */
  latencies (): ReadonlyMap<string, number> {
    return this.rtts
  }

  gossipCounts (): GossipCounts {
    return { ...this.gossip }
  }

  async start (): Promise<void> {
    if (this.running) return
    this.running = true
    const pubsub = this.node.services.pubsub
    pubsub.topicValidators.set(MEMBERSHIP_TOPIC, this.validate)
    pubsub.addEventListener('message', this.onMessage)
    pubsub.subscribe(MEMBERSHIP_TOPIC)
    await this.node.handle(VIEW_PROTOCOL, this.onViewStream, { maxInboundStreams: 16, maxOutboundStreams: 16 })
    this.node.addEventListener('peer:connect', this.onConnect)
    this.node.addEventListener('peer:disconnect', this.onDisconnect)
    this.announce()
    this.heartbeatTimer = setInterval(() => { this.heartbeat() }, this.init.timing.heartbeatMs)
    this.tickTimer = setInterval(() => { this.tick() }, this.init.timing.tickMs)
    // Peers already connected before start (none in normal use) still get our view.
    for (const peer of this.node.getPeers()) this.exchangeView(peer)
  }

  async leave (signal?: AbortSignal): Promise<void> {
    if (!this.running || this.leaving) return
    this.leaving = true
    clearInterval(this.heartbeatTimer)
    const goodbye = await this.nextAnnouncement('leaving')
    signal ??= AbortSignal.timeout(LEAVE_TIMEOUT_MS)
    // Gossip reaches peers we are not connected to; the direct send is what makes `left`
    // reliable for the ones we are, even before the gossip mesh has formed.
    const direct = this.node.getPeers().map(async peer => {
      await sendView(this.node, peer, [{ announcement: goodbye, state: 'left' }], signal)
    })
    await Promise.allSettled([this.publish(goodbye), ...direct])
  }

  async stop (): Promise<void> {
    if (!this.running) return
    this.running = false
    clearInterval(this.heartbeatTimer)
    clearInterval(this.tickTimer)
    const pubsub = this.node.services.pubsub
    pubsub.removeEventListener('message', this.onMessage)
    pubsub.topicValidators.delete(MEMBERSHIP_TOPIC)
    this.node.removeEventListener('peer:connect', this.onConnect)
    this.node.removeEventListener('peer:disconnect', this.onDisconnect)
    await this.node.unhandle(VIEW_PROTOCOL).catch(() => {})
  }

  updateSelf (patch: Partial<SelfDescription>): void {
    this.description = { ...this.description, ...patch }
    if (this.running && !this.leaving) this.announce()
  }

  /** Members worth a direct connection: anyone not known to be gone, with dialable addresses. */
  dialTargets (): Array<{ peerId: string, addrs: string[] }> {
    return [...this.state.members.values()]
      .filter(m => m.peerId !== this.selfId && m.state !== 'left')
      .map(m => ({ peerId: m.peerId, addrs: m.announcement.addrs }))
  }

  private async nextAnnouncement (state: Announcement['state']): Promise<Announcement> {
    const d = this.description
    return await signAnnouncement({
      peer_id: this.selfId,
      name: d.name,
      incarnation: this.incarnation,
      seq: ++this.seq,
      state,
      models: d.models,
      tier: d.tier,
      enabled: d.enabled,
      load: d.load,
      api_port: d.apiPort,
      addrs: this.node.getMultiaddrs().slice(0, 8).map(a => a.toString()),
      version: d.version
    }, this.init.privateKey)
  }

  private heartbeat (): void {
    this.announce()
    // Latency changes slowly; sampling every few heartbeats keeps ping traffic negligible.
    if (++this.heartbeats % LATENCY_SAMPLE_EVERY !== 0) return
    for (const member of this.state.members.values()) {
      if (member.peerId !== this.selfId && member.state === 'alive') this.probe(member.peerId)
    }
  }

  private announce (): void {
    if (!this.running || this.leaving) return
    void this.nextAnnouncement('alive').then(async ann => { await this.publish(ann) })
  }

  private async publish (ann: Announcement): Promise<void> {
    this.dispatch({ type: 'announce', announcement: ann, now: this.now() })
    try {
      await this.node.services.pubsub.publish(MEMBERSHIP_TOPIC, encodeAnnouncement(ann))
      this.gossip.out++
    } catch (err: any) {
      this.log.warn({ err }, 'announcement not published')
    }
  }

  private dispatch (event: ViewEvent): void {
    const { view, changes } = applyEvent(this.state, event, this.timing())
    this.state = view
    for (const change of changes) {
      if (change.kind === 'state' && change.to === 'suspect') this.probe(change.peerId)
      if (change.kind === 'state' && change.to === 'dead') this.hangUp(change.peerId, change.member.reason)
      if ((change.kind === 'joined' || change.kind === 'updated') && change.peerId !== this.selfId) this.learnAddresses(change)
      if (change.kind === 'removed') {
        this.storedAddrs.delete(change.peerId)
        this.reconnectedAt.delete(change.peerId)
        this.hangUpAt.delete(change.peerId)
        this.rtts.delete(change.peerId)
      }
      this.logChange(change)
      this.safeDispatchEvent('change', { detail: change })
    }
  }

  private logChange (change: ViewChange): void {
    if (change.peerId === this.selfId) return
    const m = change.member
    const who = { peer: change.peerId, name: m.announcement.name }
    if (change.kind === 'joined') this.log.info(who, `${m.announcement.name} joined (${m.state})`)
    else if (change.kind === 'state') this.log.info({ ...who, reason: m.reason }, `${m.announcement.name}: ${change.from} → ${change.to}`)
    else if (change.kind === 'removed') this.log.info(who, `${m.announcement.name} removed from the view`)
  }

  /** Gossipsub calls this before delivering or forwarding: invalid announcements go no further. */
  private readonly validate = (_propagator: PeerId, message: Message): TopicValidatorResult => {
    if (message.type !== 'signed') {
      this.gossip.rejected++
      return TopicValidatorResult.Reject
    }
    const decoded = decodeAnnouncement(message.data, message.from.toString())
    if (!decoded.ok) {
      this.gossip.rejected++
      this.log.warn({ from: message.from.toString() }, `announcement rejected: ${decoded.reason}`)
      return TopicValidatorResult.Reject
    }
    return TopicValidatorResult.Accept
  }

  private readonly onMessage = (event: CustomEvent<Message>): void => {
    const message = event.detail
    if (message.topic !== MEMBERSHIP_TOPIC || message.type !== 'signed') return
    this.gossip.in++
    const decoded = decodeAnnouncement(message.data, message.from.toString())
    if (decoded.ok && decoded.value.peer_id !== this.selfId) {
      this.dispatch({ type: 'announce', announcement: decoded.value, now: this.now() })
    }
  }

  private readonly onConnect = (event: CustomEvent<PeerId>): void => {
    this.exchangeView(event.detail)
  }

  private readonly onDisconnect = (event: CustomEvent<PeerId>): void => {
    const peerId = event.detail.toString()
    this.dispatch({ type: 'disconnected', peerId, now: this.now() })
  }

  private exchangeView (peer: PeerId): void {
    if (!this.running) return
    const entries: ViewEntry[] = [...this.state.members.values()].map(m => ({ announcement: m.announcement, state: m.state }))
    sendView(this.node, peer, entries).catch((err: any) => {
      this.log.debug({ peer: peer.toString() }, `view not sent: ${err?.message ?? err}`)
    })
  }

  private readonly onViewStream = ({ stream, connection }: { stream: any, connection: any }): void => {
    const from = connection.remotePeer.toString()
    readView(stream, AbortSignal.timeout(VIEW_EXCHANGE_TIMEOUT_MS)).then(async decoded => {
      if (!decoded.ok) {
        // A stream cut short is normal while a peer shuts down; bad data is worth a warning.
        const bad = decoded.reason.startsWith('malformed') || decoded.reason.startsWith('oversize')
        this.log[bad ? 'warn' : 'debug']({ peer: from }, `view rejected: ${decoded.reason}`)
        return
      }
      if (decoded.value.skipped.length > 0) {
        this.log.warn({ peer: from }, `view: ${decoded.value.skipped.length} malformed entries skipped (${decoded.value.skipped[0]})`)
      }
      return await this.applyVerifiedEntries(from, decoded.value.entries)
    }).catch((err: any) => {
      this.log.warn({ peer: from, err }, 'view exchange failed')
    })
  }

  /** Entries of a full view count only with their subject's own signature: the sender may not forge them. */
  private async applyVerifiedEntries (from: string, entries: ViewEntry[]): Promise<void> {
    const verified = await Promise.all(entries.map(async e => await verifyAnnouncement(e.announcement)))
    const forged = verified.filter(ok => !ok).length
    if (forged > 0) this.log.warn({ peer: from }, `view: ${forged} entries without a valid signature of their peer skipped`)
    const now = this.now()
    entries.forEach((entry, i) => {
      if (verified[i] !== true || entry.announcement.peer_id === this.selfId) return
      this.dispatch({ type: 'announce', announcement: entry.announcement, now, reportedState: entry.state })
    })
  }

  /**
   * A member heard of through gossip or a full view may never have been connected: put its
   * announced addresses in the peer store so a completion can dial it by id, and ping it now
   * (connects it, measures its latency) instead of waiting for the next redial round.
   */
  private learnAddresses (change: ViewChange): void {
    // Load changes make `updated` events many times a second; the peer store is locked per write.
    const key = change.member.announcement.addrs.join(' ')
    if (this.storedAddrs.get(change.peerId) === key) return
    this.storedAddrs.set(change.peerId, key)
    const addrs = change.member.announcement.addrs.flatMap(a => {
      try { return [multiaddr(a)] } catch { return [] }
    })
    if (addrs.length === 0) return
    const peerId = peerIdFromString(change.peerId)
    this.node.peerStore.merge(peerId, { multiaddrs: addrs }).then(() => {
      if (change.kind === 'joined' && change.member.state === 'alive') this.probe(change.peerId)
    }, (err: any) => { this.log.debug({ peer: change.peerId }, `cannot store addresses: ${err?.message ?? err}`) })
  }

  /**
   * Failure detector clock: timeouts first, then a direct ping to each alive member whose heartbeat
   * is late (a stopped process keeps its connections open, so only a ping tells), and a reconnect
   * ping to each dead one: after a partition heals both sides hold the other dead, and auto-dial
   * alone retries only every redialIntervalMs (5 s on the LAN).
   */
  private tick (): void {
    const now = this.now()
    this.health.tick(now)
    this.dispatch({ type: 'tick', now })
    const timing = this.init.timing
    const slack = this.health.slackMs
    for (const member of this.state.members.values()) {
      if (member.peerId === this.selfId) continue
      const deferred = this.hangUpAt.get(member.peerId)
      if (deferred != null) {
        if (member.state !== 'dead') this.hangUpAt.delete(member.peerId)
        else if (now >= deferred.at || this.init.isAnswering?.(member.peerId) !== true) this.hangUp(member.peerId, deferred.reason)
      }
      if ((member.state === 'alive' && now - member.lastHeard > timing.probeAfterMs + slack) || member.state === 'suspect') {
        // A suspect is probed until a ping settles it (or its suspicion times out).
        this.probe(member.peerId)
      } else if (member.state === 'dead' && now - (this.reconnectedAt.get(member.peerId) ?? member.stateSince) >= timing.reconnectIntervalMs) {
        // A ping that connects triggers the view exchange, and that brings the member back.
        this.reconnectedAt.set(member.peerId, now)
        this.probe(member.peerId)
      }
    }
  }

  /**
   * A member declared dead may still hold open connections (a stopped process, a cut cable): abort
   * them, so requests waiting on it fail over now instead of at their first-token timeout, and the
   * next contact is a fresh dial instead of a stale TCP connection.
   */
  private hangUp (peerId: string, reason: string): void {
    if (this.init.isAnswering?.(peerId) === true && !this.hangUpAt.has(peerId)) {
      this.hangUpAt.set(peerId, { at: this.now() + this.init.timing.answeringGraceMs, reason })
      return
    }
    this.hangUpAt.delete(peerId)
    for (const connection of this.node.getConnections(peerIdFromString(peerId))) {
      connection.abort(new Error(`peer declared dead: ${reason}`))
    }
  }

  /** The profile's timeouts, stretched while this process itself runs late (see LocalHealth). */
  private timing (): TimingProfile {
    const slack = this.health.slackMs
    if (slack === 0) return this.init.timing
    const timing = this.init.timing
    return { ...timing, suspectAfterMs: timing.suspectAfterMs + slack, suspicionTimeoutMs: timing.suspicionTimeoutMs + slack }
  }

  /** Failure detector: a direct ping (dialing if needed) settles a suspicion either way. */
  private probe (peerId: string): void {
    if (!this.running || this.probing.has(peerId)) return
    this.probing.add(peerId)
    const timeoutMs = this.init.timing.pingTimeoutMs + this.health.slackMs
    const signal = AbortSignal.timeout(timeoutMs)
    this.node.services.ping.ping(peerIdFromString(peerId), { signal })
      .then((rtt: number) => {
        this.rtts.set(peerId, rtt)
        this.dispatch({ type: 'reachable', peerId, now: this.now() })
      })
      .catch((err: any) => {
        if (!signal.aborted && this.node.getConnections(peerIdFromString(peerId)).some(c => c.status === 'open')) {
          // The peer closed or refused our ping stream over a live connection (e.g. its stream
          // limit while it is swamped): its process runs, so this settles nothing. Measured: ten
          // peers starting together called each other dead this way. A suspect is probed again.
          this.log.debug({ peer: peerId, err }, 'ping refused over an open connection')
          return
        }
        const reason = signal.aborted ? `ping timed out (${timeoutMs} ms)` : `ping failed: ${err?.message ?? err}`
        this.dispatch({ type: 'unreachable', peerId, now: this.now(), reason })
      })
      .finally(() => this.probing.delete(peerId))
  }
}

export function createMembership (node: MeshNode, init: MembershipInit): Membership {
  return new MembershipService(node, init)
}

export type { Member, ClusterView, ViewChange }
