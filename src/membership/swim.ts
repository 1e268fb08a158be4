import { RttTable } from './rtt.js'
import { TypedEventEmitter } from 'main-event'
import { every, type Clock } from './clock.js'
import { createProber, type ProbeMode, type ProbeResult, type Prober } from './prober.js'
import { createDissemination, type Dissemination } from './dissemination.js'
import { createAntiEntropy, type AntiEntropy } from './anti-entropy.js'
import { LocalHealth } from './local-health.js'
import { SelfAnnouncer, type AnnouncementSigner, type SelfDescription } from './self-announcer.js'
import { applyEvent, compareVersion, emptyView, type ClusterView, type ViewChange, type ViewEvent } from './view.js'
import { createIncoming, type Incoming } from './incoming.js'
import { carriersOf, type AnnounceReason } from './carriers.js'
import type { ViewEntry } from './announcement.js'
import type { Seen, Update } from './messages.js'
import { countedTransport, type AnnouncementPublisher, type MembershipTransport, type MessageCounts } from './transport.js'
import { targetsOf, type Targets } from './targets.js'
import { logViewChange } from './view-log.js'
import type { TimingProfile } from './profiles.js'
import type { Announcement, Member } from './types.js'
import type { Logger } from '../log.js'

export type { AnnouncementSigner, SelfDescription } from './self-announcer.js'

export interface SwimInit {
  selfId: string
  self: SelfDescription
  /** Our mesh addresses, announced so members that only heard of us can dial us. */
  addrs: () => string[]
  transport: MembershipTransport
  signer: AnnouncementSigner
  /**
   * The gossipsub topic, in the peer: joins, changes, refutations and leaves are published there
   * (carriers.ts says which goes where). Absent in the simulator: SWIM carries them all.
   */
  topic?: AnnouncementPublisher
  clock: Clock
  timing: TimingProfile
  logger: Logger
  random?: () => number
  /** Grows across restarts (default: the clock at creation), so a restarted peer overrides what others remember. */
  incarnation?: number
  /**
   * Members known before start, taken as alive. The simulator starts a large cluster converged
   * this way instead of replaying a thousand joins; a real peer starts empty and joins.
   */
  seed?: Announcement[]
}

/** Reasons travel in dead verdicts; the wire schema allows 256 characters. */
const MAX_VERDICT_REASON = 200

/** With no connection open on the way out, the goodbye goes to this many members; they spread it. */
const LEAVE_FANOUT_UNCONNECTED = 8

export interface SwimEvents {
  change: CustomEvent<ViewChange>
}

/**
 * SWIM membership (Das, Gupta, Motivala 2002) with memberlist's and Lifeguard's refinements, on
 * any `MembershipTransport`: the failure detector (prober.ts), change-only dissemination
 * (dissemination.ts) and push-pull anti-entropy (anti-entropy.ts) around the pure view (view.ts);
 * our own announcements also go to the gossipsub topic where there is one (carriers.ts).
 * Per-member cost does not grow with N: one probe per period, gossip only while something changed.
 * This file is the wiring plus the rules that join them: what a probe result means for the view,
 * when we announce (a change, a refutation, leaving), and the timeouts; what arrives is incoming.ts's.
 */
export class Swim extends TypedEventEmitter<SwimEvents> {
  readonly selfId: string
  private readonly init: SwimInit
  private readonly clock: Clock
  private readonly log: Logger
  private readonly random: () => number
  private readonly health: LocalHealth
  private readonly prober: Prober
  private readonly dissemination: Dissemination
  private readonly antiEntropy: AntiEntropy
  private readonly me: SelfAnnouncer
  private readonly incoming: Incoming
  private state: ClusterView
  /** Our newest version has reached nobody on the topic (a lone start): the first listener gets it. */
  private unheard = false
  /** The last version handed to the topic: gossipsub does not publish one version twice. */
  private topicPublished?: Announcement
  private running = false
  private leaving = false
  private tickTimer?: { stop: () => void }
  private targetsCache?: Targets
  readonly counts: MessageCounts = { in: 0, out: 0, rejected: 0 }
  /** Round trips of our probes on the open membership channel (rtt.ts). */
  readonly rtts = new RttTable()

  constructor (init: SwimInit) {
    super()
    this.init = init
    this.selfId = init.selfId
    this.clock = init.clock
    this.log = init.logger
    this.random = init.random ?? Math.random
    this.me = new SelfAnnouncer({ selfId: init.selfId, incarnation: init.incarnation ?? init.clock.now(), self: init.self, addrs: init.addrs, signer: init.signer, logger: init.logger })
    this.state = emptyView(this.selfId)
    if (init.seed != null && init.seed.length > 0) {
      const now = init.clock.now()
      const members = new Map(init.seed.filter(a => a.peer_id !== this.selfId).map(a => [a.peer_id, { peerId: a.peer_id, announcement: a, state: 'alive' as const, reason: 'joined', stateSince: now, lastHeard: now }]))
      this.state = { self: this.selfId, members }
    }
    // Lag is measured on the probe period, which always runs; the tick runs only while a member is not alive.
    this.health = new LocalHealth(init.timing.probeIntervalMs)
    const timing = init.timing
    const wire = countedTransport(init.transport, this.counts)
    this.prober = createProber({
      clock: this.clock,
      transport: wire,
      timing,
      random: this.random,
      targets: () => this.targets(),
      ping: target => ({ type: 'ping', seen: this.seen(target), updates: this.dissemination.piggyback() }),
      pingReq: target => ({ type: 'ping-req', target, updates: this.dissemination.piggyback() }),
      slackMs: () => this.health.slackMs,
      onReply: (from, reply, rtt) => { this.incoming.onReply(from, reply, rtt) },
      onResult: (target, result) => { this.onProbeResult(target, result) },
      onPeriod: now => { this.health.tick(now) }
    })
    this.dissemination = createDissemination({
      clock: this.clock,
      transport: wire,
      timing,
      random: this.random,
      targets: () => ({ peers: this.targets().pool, n: this.state.members.size }),
      onReply: (from, reply) => { this.incoming.onReply(from, reply, undefined) }
    })
    this.antiEntropy = createAntiEntropy({
      clock: this.clock,
      transport: wire,
      timing,
      random: this.random,
      // A member we hold a connection to, when there is one: anti-entropy needs no dial.
      n: () => this.state.members.size,
      peers: () => {
        const alive = this.targets().relays
        const connected = alive.filter(p => init.transport.isConnected(p))
        return connected.length > 0 ? connected : alive
      },
      entries: () => this.entries(),
      apply: async (from, entries) => { await this.incoming.applyEntries(from, entries) },
      onError: (peer, err) => { this.log.debug({ peer }, `view exchange failed: ${err?.message ?? err}`) }
    })
    this.incoming = createIncoming({
      selfId: this.selfId,
      logger: this.log,
      signer: init.signer,
      counts: this.counts,
      dissemination: this.dissemination,
      rtts: this.rtts,
      now: () => this.clock.now(),
      view: () => this.state,
      dispatch: event => this.dispatch(event),
      relay: async target => await this.prober.relay(target),
      mine: () => this.me.current,
      refuteIfNeeded: async (state, version) => { await this.refuteIfNeeded(state, version) },
      seen: peer => this.seen(peer),
      entries: () => this.entries(),
      relayJoin: ann => { this.init.topic?.publish(ann).catch((err: any) => { this.log.debug(`join of ${ann.peer_id} not relayed on the topic: ${err?.message ?? err}`) }) }
    })
  }

  view (): ClusterView {
    return this.state
  }

  async start (): Promise<void> {
    if (this.running) return
    this.running = true
    this.init.transport.handle(this.incoming.handlers)
    await this.announce('join')
    this.prober.start()
    this.dissemination.start()
    this.antiEntropy.start()
    this.syncTickTimer()
  }

  /** Announces `leaving` to every member we can reach at once, so they mark us `left`, then stops. Idempotent. */
  async leave (signal?: AbortSignal): Promise<void> {
    if (!this.running || this.leaving) return
    this.leaving = true
    this.prober.stop()
    const goodbye = await this.announce('leave', 'leaving')
    if (goodbye == null) return
    // To the members we hold a connection to (no dial on the way out); each passes it on as news.
    const pool = this.targets().pool
    const connected = pool.filter(p => this.init.transport.isConnected(p))
    await this.dissemination.sendNow(connected.length > 0 ? connected : pool.slice(0, LEAVE_FANOUT_UNCONNECTED), [{ type: 'alive', announcement: goodbye }], signal)
  }

  stop (): void {
    if (!this.running) return
    this.running = false
    this.prober.stop()
    this.dissemination.stop()
    this.antiEntropy.stop()
    this.tickTimer?.stop()
    this.tickTimer = undefined
    this.init.transport.handle(undefined)
  }

  /** Changes what we announce (load, models…): announced at once, and spread as a change. */
  updateSelf (patch: Partial<SelfDescription>): void {
    // Only a change is news: an unchanged load or model list is not spread.
    const change = this.me.update(patch)
    if (change !== 'none' && this.running && !this.leaving) void this.announce(change)
  }

  /** Our listen addresses may have changed (libp2p says so): a change is announced. */
  addressesMayHaveChanged (): void {
    if (this.running && !this.leaving && this.me.addressesChanged()) void this.announce('change')
  }

  /**
   * A member subscribed to the topic. If our newest version reached nobody there (a lone start, a
   * refutation while cut off), it is published now (gossipsub keeps no history): the same version if
   * it was held back for want of listeners (members that hold it take it at the door unchecked), a
   * new one only if gossipsub took that version and sent it nowhere (it never publishes one twice).
   */
  topicListenerAppeared (): void {
    if (!this.unheard || !this.running || this.leaving) return
    const current = this.me.current
    if (current != null && current !== this.topicPublished) this.publishOnTopic(current)
    else void this.announce('join')
  }

  /** An announcement accepted by the topic's validator (signature checked there). */
  receiveAnnouncement (from: string, ann: Announcement): void {
    if (this.running) this.incoming.applyVerified(from, ann)
  }

  /** Probes `peer` outside the rotation (its connection closed: dead or just idle-closed?). */
  probeNow (peer: string, mode?: ProbeMode): void {
    if (this.running && peer !== this.selfId && this.state.members.has(peer)) this.prober.probeNow(peer, mode)
  }

  /** A full push-pull with `peer` (a joiner's first contact). */
  async exchangeViews (peer: string): Promise<void> {
    if (this.running) await this.antiEntropy.exchange(peer)
  }

  /** Changes queued for dissemination (0 when the mesh is quiet). */
  get queuedUpdates (): number {
    return this.dissemination.queued
  }

  // --- our own announcement ---------------------------------------------------------------

  /** A new version of our announcement: applied to our view and sent on its carriers (carriers.ts). */
  private async announce (reason: AnnounceReason, state: Announcement['state'] = 'alive'): Promise<Announcement | undefined> {
    const ann = await this.me.next(state)
    if (ann == null) return undefined
    this.dispatch({ type: 'announce', announcement: ann, now: this.clock.now() })
    const carriers = carriersOf(reason, this.init.topic != null)
    if (carriers.swim) this.dissemination.enqueue({ type: 'alive', announcement: ann })
    if (carriers.topic && this.init.topic != null) {
      // Nobody subscribed yet (a start, before any connection): held until the first listener.
      if (this.init.topic.listeners?.() === 0) this.unheard = true
      else this.publishOnTopic(ann)
    }
    return ann
  }

  private publishOnTopic (ann: Announcement): void {
    this.unheard = false
    this.topicPublished = ann
    // Only the newest version matters: an older publish that reached nobody is superseded.
    const heardBy = (n: number): void => { if (this.me.current === ann) this.unheard = n === 0 }
    void this.init.topic?.publish(ann).then(heardBy, (err: any) => {
      this.log.debug(`announcement not published on the topic: ${err?.message ?? err}`)
      heardBy(0)
    })
  }

  /** Someone holds us suspect or dead as of a version we have not moved past: say something newer. */
  private async refuteIfNeeded (state: string, version: { incarnation: number, seq: number }): Promise<void> {
    if (state === 'alive' || this.leaving || compareVersion(version, this.me.version()) < 0) return
    this.log.info(`refuting: a member holds us ${state}`)
    await this.announce('refute')
  }

  // --- probe verdicts ---------------------------------------------------------------------

  private onProbeResult (target: string, result: ProbeResult): void {
    const member = this.state.members.get(target)
    if (member == null) return
    const now = this.clock.now()
    if (result.ok) {
      this.dispatch({ type: 'reachable', peerId: target, now })
      return
    }
    if (member.state === 'alive') {
      if (changedState(this.dispatch({ type: 'suspect', peerId: target, now, reason: result.reason }))) {
        this.dissemination.enqueue(this.verdict('suspect', member))
      }
    } else if (member.state === 'suspect') {
      // A second full probe cycle (direct and indirect) without an answer confirms it: the probe
      // itself told the suspect it is suspected, so a live one had its chance to refute. The
      // suspicion timeout remains the bound for suspects we cannot probe either way.
      const reason = `suspect, and again ${result.reason}`
      if (changedState(this.dispatch({ type: 'unreachable', peerId: target, now, reason }))) {
        this.dissemination.enqueue(this.verdict('dead', member, reason))
      }
    }
  }

  // --- the view -------------------------------------------------------------------------

  /** Applies one event and returns its changes. */
  private dispatch (event: ViewEvent): ViewChange[] {
    const { view, changes } = applyEvent(this.state, event, this.effectiveTiming())
    this.state = view
    for (const change of changes) {
      if (change.kind !== 'updated') this.targetsCache = undefined
      // A new suspect is probed at once, not at its turn: it refutes or is confirmed within one probe cycle.
      if (change.kind === 'state' && change.to === 'suspect' && this.running) this.prober.probeNow(change.peerId)
      if (change.kind === 'removed') {
        this.dissemination.forget(change.peerId)
        this.rtts.delete(change.peerId)
      }
      logViewChange(this.log, this.selfId, change)
      this.safeDispatchEvent('change', { detail: change })
    }
    if (this.targetsCache == null) {
      this.syncTickTimer()
      this.dissemination.membersChanged()
    }
    return changes
  }

  /** The timeout clock runs only while some member has a timeout running (suspect, dead, left): an idle mesh wakes for nothing. */
  private syncTickTimer (): void {
    if (this.running && this.targets().timed > 0) {
      this.tickTimer ??= every(this.clock, () => this.init.timing.tickMs, () => { this.tick() })
    } else if (this.tickTimer != null) {
      this.tickTimer.stop()
      this.tickTimer = undefined
    }
  }

  private tick (): void {
    const now = this.clock.now()
    // A suspicion that timed out here is our verdict: spread it (others may still hold the peer alive).
    for (const change of this.dispatch({ type: 'tick', now })) {
      if (change.kind !== 'state' || change.to !== 'dead') continue
      this.dissemination.enqueue(this.verdict('dead', change.member, change.member.reason))
    }
  }

  /**
   * The suspicion timeout grows with log10 N (memberlist: a larger cluster needs more rounds to
   * spread a refutation) and with this process's own timer lag (Lifeguard local health).
   */
  private effectiveTiming (): TimingProfile {
    const timing = this.init.timing
    const suspicionTimeoutMs = suspicionTimeout(timing.suspicionTimeoutMs, this.state.members.size, this.health.slackMs)
    return suspicionTimeoutMs === timing.suspicionTimeoutMs ? timing : { ...timing, suspicionTimeoutMs }
  }

  private targets (): Targets {
    this.targetsCache ??= targetsOf(this.state)
    return this.targetsCache
  }

  /** Our verdict on `member`, as of the version we hold of it: only a newer announcement refutes it. */
  private verdict (type: 'suspect' | 'dead', member: Member, reason = ''): Update {
    const { incarnation, seq } = member.announcement
    return type === 'suspect'
      ? { type, peer_id: member.peerId, incarnation, seq, from: this.selfId }
      : { type, peer_id: member.peerId, incarnation, seq, from: this.selfId, reason: reason.slice(0, MAX_VERDICT_REASON) }
  }

  /** What we hold about `peer`, sent with a probe so it can refute a suspicion at once. */
  private seen (peer: string): Seen | undefined {
    const m = this.state.members.get(peer)
    if (m == null) return undefined
    return { incarnation: m.announcement.incarnation, seq: m.announcement.seq, state: m.state }
  }

  private entries (): ViewEntry[] {
    return [...this.state.members.values()].map(m => ({ announcement: m.announcement, state: m.state }))
  }
}

function changedState (changes: ViewChange[]): boolean {
  return changes.some(c => c.kind === 'state')
}

/**
 * How long a suspect may stay suspect: the profile's figure up to 10 members, × log10 N above (a
 * refutation needs more rounds to reach everyone; memberlist scales it the same way), plus this
 * process's own timer lag (Lifeguard local health: our lateness is not the suspect's fault).
 */
export function suspicionTimeout (baseMs: number, members: number, slackMs: number): number {
  return Math.round(baseMs * Math.max(1, Math.log10(Math.max(1, members)))) + slackMs
}
