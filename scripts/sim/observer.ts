// What the simulator measures, read from the peers' own 'change' events: when a joiner is listed
// alive by every live peer, when a crashed peer is held not alive (and dead) by every live peer,
// when a healed partition has re-converged, and live peers wrongly declared dead.
import type { ClusterView, ViewChange } from '../../src/membership/view.js'
import type { MemberState } from '../../src/membership/types.js'
import type { VirtualClock } from './virtual-clock.js'

/** How many live peers hold a member in each state that matters here. */
interface Holders {
  alive: number
  suspect: number
}

interface JoinWatch { at: number, convergedAt?: number }
interface CrashWatch { at: number, detectedAt?: number, deadAt?: number }

export interface Incidents {
  /** Distinct (peer, version) pairs some live peer moved to this state while the peer was up. */
  incidents: number
  /** State changes counted per observer (one incident seen by 50 peers is 50 here). */
  observations: number
}

/**
 * Event-driven bookkeeping, O(1) per view change: per member, how many live peers hold it alive
 * and how many suspect, plus the number of (live observer, live member) pairs that agree the
 * member is alive. Adding or crashing a peer costs one scan of its view.
 */
export class Observer {
  private readonly clock: VirtualClock
  private readonly live = new Set<string>()
  private readonly holders = new Map<string, Holders>()
  /** Σ over live members of the live peers holding them alive: N(N − 1) when every view agrees. */
  private agreeing = 0
  private readonly joins = new Map<string, JoinWatch>()
  private readonly crashes = new Map<string, CrashWatch>()
  private readonly pendingJoins = new Set<string>()
  private readonly pendingCrashes = new Set<string>()
  /** Partition sides while a partition (or its healing) is being observed. */
  private sides: ReadonlyMap<string, number> | undefined
  private readonly falseDeathKeys = new Set<string>()
  private readonly falseSuspectKeys = new Set<string>()
  readonly falseDeaths: Incidents = { incidents: 0, observations: 0 }
  readonly falseSuspicions: Incidents = { incidents: 0, observations: 0 }
  /** Deaths while a partition was up or healing (the partition's doing, not false deaths). */
  readonly partitionDeaths: Incidents = { incidents: 0, observations: 0 }
  private readonly partitionDeathKeys = new Set<string>()
  /** Of those, observations where observer and victim were on the same side. */
  partitionSameSideDeaths = 0
  /** Live peers wrongly declared dead, by peer: which ones (slow ones?) suffer. */
  readonly falselyDead = new Map<string, number>()
  private liveMs = 0
  private liveSince = 0

  constructor (clock: VirtualClock) {
    this.clock = clock
  }

  get liveCount (): number {
    return this.live.size
  }

  isLive (id: string): boolean {
    return this.live.has(id)
  }

  /** Live peer-time observed so far outside a partition (the false-death rate's denominator), in hours. */
  peerHours (): number {
    this.accrue()
    return this.liveMs / 3_600_000
  }

  /** A peer comes up with `view` (its seed): counted from now on, as observer and as member. */
  addPeer (id: string, view: ClusterView): void {
    this.accrue()
    this.live.add(id)
    this.agreeing += this.holdersOf(id).alive
    for (const m of view.members.values()) if (m.peerId !== id) this.count(m.peerId, m.state, +1)
    this.recheck()
  }

  /** A peer crashes: it stops counting as an observer, and is now a member to be detected. */
  removePeer (id: string, view: ClusterView): void {
    this.accrue()
    this.live.delete(id)
    this.agreeing -= this.holdersOf(id).alive
    for (const m of view.members.values()) if (m.peerId !== id) this.count(m.peerId, m.state, -1)
    this.recheck()
  }

  /** The listener to install on one peer's 'change' events. */
  listener (observer: string): (event: CustomEvent<ViewChange>) => void {
    return event => { this.onChange(observer, event.detail) }
  }

  watchJoin (id: string): void {
    this.joins.set(id, { at: this.clock.now() })
    this.pendingJoins.add(id)
    this.check(id)
  }

  watchCrash (id: string): void {
    this.crashes.set(id, { at: this.clock.now() })
    this.pendingCrashes.add(id)
    this.check(id)
  }

  /** Joins and crashes whose outcome is still awaited. */
  get pending (): number {
    return this.pendingJoins.size + this.pendingCrashes.size
  }

  isPending (id: string): boolean {
    return this.pendingJoins.has(id) || this.pendingCrashes.has(id)
  }

  /** Every live peer holds every other live peer alive. */
  get converged (): boolean {
    const n = this.live.size
    return this.agreeing === n * (n - 1)
  }

  /** (live observer, live member) pairs that do not (yet) agree the member is alive. */
  get disagreeing (): number {
    const n = this.live.size
    return n * (n - 1) - this.agreeing
  }

  /** From now until `setPartition(undefined)` deaths are the partition's, and peer-time is not counted. */
  setPartition (sides: ReadonlyMap<string, number> | undefined): void {
    this.accrue()
    this.sides = sides
  }

  joinResults (): { ms: number[], unconverged: number } {
    const ms: number[] = []
    let unconverged = 0
    for (const w of this.joins.values()) {
      if (w.convergedAt == null) unconverged++
      else ms.push(w.convergedAt - w.at)
    }
    return { ms, unconverged }
  }

  crashResults (): { detectMs: number[], deadMs: number[], undetected: number, notDead: number } {
    const detectMs: number[] = []
    const deadMs: number[] = []
    let undetected = 0
    let notDead = 0
    for (const w of this.crashes.values()) {
      if (w.detectedAt == null) undetected++
      else detectMs.push(w.detectedAt - w.at)
      if (w.deadAt == null) notDead++
      else deadMs.push(w.deadAt - w.at)
    }
    return { detectMs, deadMs, undetected, notDead }
  }

  /**
   * Recounts from the views themselves (O(N²)) and throws if the event-driven counts drifted:
   * the figures above are only as good as this bookkeeping.
   */
  verify (views: ReadonlyMap<string, ClusterView>): void {
    const alive = new Map<string, number>()
    const suspect = new Map<string, number>()
    for (const [observer, view] of views) {
      if (!this.live.has(observer)) continue
      for (const m of view.members.values()) {
        if (m.peerId === observer) continue
        if (m.state === 'alive') alive.set(m.peerId, (alive.get(m.peerId) ?? 0) + 1)
        if (m.state === 'suspect') suspect.set(m.peerId, (suspect.get(m.peerId) ?? 0) + 1)
      }
    }
    let agreeing = 0
    for (const [id, h] of this.holders) {
      if (h.alive !== (alive.get(id) ?? 0) || h.suspect !== (suspect.get(id) ?? 0)) {
        throw new Error(`observer drifted for ${id}: counted ${h.alive} alive / ${h.suspect} suspect, views say ${alive.get(id) ?? 0} / ${suspect.get(id) ?? 0}`)
      }
      if (this.live.has(id)) agreeing += h.alive
    }
    if (agreeing !== this.agreeing) throw new Error(`observer drifted: ${this.agreeing} agreeing pairs counted, ${agreeing} in the views`)
  }

  private accrue (): void {
    const now = this.clock.now()
    if (this.sides == null) this.liveMs += this.live.size * (now - this.liveSince)
    this.liveSince = now
  }

  private holdersOf (id: string): Holders {
    let h = this.holders.get(id)
    if (h == null) {
      h = { alive: 0, suspect: 0 }
      this.holders.set(id, h)
    }
    return h
  }

  private count (member: string, state: MemberState, delta: 1 | -1): void {
    if (state === 'alive') {
      this.holdersOf(member).alive += delta
      if (this.live.has(member)) this.agreeing += delta
    } else if (state === 'suspect') {
      this.holdersOf(member).suspect += delta
    }
  }

  private onChange (observer: string, change: ViewChange): void {
    // A crashed peer's last async steps may still touch its view; it no longer counts.
    if (change.peerId === observer || !this.live.has(observer)) return
    let before: MemberState | undefined
    let after: MemberState | undefined
    switch (change.kind) {
      case 'joined': after = change.member.state; break
      case 'state': before = change.from; after = change.to; break
      case 'removed': before = change.member.state; break
      case 'updated': return
    }
    if (before != null) this.count(change.peerId, before, -1)
    if (after != null) this.count(change.peerId, after, +1)
    if (change.kind === 'state' && (change.to === 'dead' || change.to === 'suspect') && this.live.has(change.peerId)) {
      this.wrongVerdict(observer, change)
    }
    this.check(change.peerId)
  }

  private wrongVerdict (observer: string, change: Extract<ViewChange, { kind: 'state' }>): void {
    const subject = change.peerId
    const a = change.member.announcement
    const key = `${subject}@${a.incarnation}.${a.seq}`
    if (this.sides != null) {
      // While partitioned or healing every death is the partition's; those of a peer on the
      // observer's own side come from "dead" rumours that crossed the healed line.
      if (change.to !== 'dead') return
      this.partitionDeaths.observations++
      if (!this.partitionDeathKeys.has(key)) {
        this.partitionDeathKeys.add(key)
        this.partitionDeaths.incidents++
      }
      if ((this.sides.get(observer) ?? 0) === (this.sides.get(subject) ?? 0)) this.partitionSameSideDeaths++
      return
    }
    const [tally, keys] = change.to === 'dead' ? [this.falseDeaths, this.falseDeathKeys] : [this.falseSuspicions, this.falseSuspectKeys]
    tally.observations++
    if (!keys.has(key)) {
      keys.add(key)
      tally.incidents++
      if (change.to === 'dead') this.falselyDead.set(subject, (this.falselyDead.get(subject) ?? 0) + 1)
    }
  }

  /** After the live set changed, every awaited outcome may have been reached. */
  private recheck (): void {
    for (const id of this.pendingJoins) this.check(id)
    for (const id of this.pendingCrashes) this.check(id)
  }

  private check (id: string): void {
    const h = this.holders.get(id) ?? { alive: 0, suspect: 0 }
    const now = this.clock.now()
    if (this.pendingJoins.has(id) && this.live.has(id) && h.alive === this.live.size - 1) {
      const w = this.joins.get(id)
      if (w != null) w.convergedAt = now
      this.pendingJoins.delete(id)
    }
    if (this.pendingCrashes.has(id)) {
      const w = this.crashes.get(id)
      if (w == null) return
      if (w.detectedAt == null && h.alive === 0) w.detectedAt = now
      if (h.alive === 0 && h.suspect === 0) {
        w.deadAt = now
        this.pendingCrashes.delete(id)
      }
    }
  }
}
