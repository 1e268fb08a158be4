// A simulated cluster: N real `Swim` instances on one virtual clock and one simulated network,
// started converged (each seeded with everyone's announcement), plus the events the scenario
// drives: joins, crashes, slow peers, a partition.
import { Swim, type AnnouncementSigner, type SelfDescription } from '../../src/membership/swim.js'
import type { TimingProfile } from '../../src/membership/profiles.js'
import type { Announcement } from '../../src/membership/types.js'
import type { ClusterView } from '../../src/membership/view.js'
import { silentLogger } from '../../src/log.js'
import { mulberry32 } from '../../src/util/prng.js'
import { SimNetwork } from './network.js'
import { Observer } from './observer.js'
import { VirtualClock } from './virtual-clock.js'

/**
 * The simulator's signer: crypto cost is not what it measures. The signature is a fixed string as
 * long as a base64 Ed25519 signature (88 characters), so byte counts match the real wire.
 */
export const SIM_SIGNATURE = 'sim'.padEnd(88, '=')

export const simSigner: AnnouncementSigner = {
  sign: async ann => ({ ...ann, sig: SIM_SIGNATURE }),
  verify: async () => true
}

export interface ClusterInit {
  n: number
  loss: number
  latencyMs: readonly [number, number]
  timing: TimingProfile
  seed: number
}

export interface SimPeer {
  id: string
  swim: Swim
  slow: boolean
  crashed: boolean
  /** A peer of the initial cluster (joiners are not). */
  original: boolean
}

/** 52 characters, as a real Ed25519 peer id (`12D3KooW…`): ids appear in every update and view entry. */
export function simPeerId (index: number): string {
  return `12D3KooWSim${String(index).padStart(41, '0')}`
}

const INCARNATION = 1
/** One silent logger for all peers (a thousand pino instances would only cost memory). */
const LOGGER = silentLogger()

function describe (index: number): SelfDescription {
  return {
    name: `sim-${String(index).padStart(4, '0')}`,
    models: ['llama3.2:3b-instruct-q4_K_M'],
    tier: 1,
    enabled: true,
    load: { active: 0, queued: 0, capacity: 4 },
    apiPort: 11435,
    version: '0.1.0'
  }
}

function addrsOf (index: number, id: string): string[] {
  return [`/ip4/10.${(index >> 16) & 255}.${(index >> 8) & 255}.${index & 255}/tcp/4001/p2p/${id}`]
}

/** What `Swim.start()` announces first (seq 1), so the seed matches it and nobody re-spreads it. */
function firstAnnouncement (index: number, id: string): Announcement {
  const d = describe(index)
  return {
    peer_id: id,
    name: d.name,
    incarnation: INCARNATION,
    seq: 1,
    state: 'alive',
    models: d.models,
    tier: d.tier,
    enabled: d.enabled,
    load: d.load,
    api_port: d.apiPort,
    addrs: addrsOf(index, id),
    version: d.version,
    sig: SIM_SIGNATURE
  }
}

export class SimCluster {
  readonly clock = new VirtualClock()
  readonly network: SimNetwork
  readonly observer: Observer
  readonly peers = new Map<string, SimPeer>()
  readonly timing: TimingProfile
  /** The scenario's own choices (who joins where, who crashes); each peer has its own stream. */
  readonly random: () => number
  private readonly seed: number
  private nextIndex = 0

  constructor (init: ClusterInit) {
    this.timing = init.timing
    this.seed = init.seed
    this.random = mulberry32(init.seed)
    this.network = new SimNetwork({ clock: this.clock, random: mulberry32(init.seed ^ 0x5bd1e995), latencyMs: init.latencyMs, loss: init.loss })
    this.observer = new Observer(this.clock)
    const seed = Array.from({ length: init.n }, (_, i) => firstAnnouncement(i, simPeerId(i)))
    for (let i = 0; i < init.n; i++) this.create(seed, true)
  }

  /**
   * Starts every peer at once. Each prober picks its own random phase within the first protocol
   * period; staggering the starts instead would leave seeded members unreachable for a moment
   * and show up as false suspicions that only the simulator causes.
   */
  startAll (): void {
    for (const peer of this.peers.values()) void peer.swim.start()
  }

  live (): SimPeer[] {
    return [...this.peers.values()].filter(p => !p.crashed)
  }

  /**
   * A new peer joins through `bootstrap`: it knows only that member, starts, and both sides push-pull
   * their views, as the libp2p wiring does when the first connection opens (peer:connect fires on
   * both ends).
   */
  async join (bootstrap: SimPeer): Promise<SimPeer> {
    const own = bootstrap.swim.view().members.get(bootstrap.id)?.announcement
    if (own == null) throw new Error(`bootstrap ${bootstrap.id} has no announcement of its own yet`)
    const peer = this.create([own], false)
    this.observer.watchJoin(peer.id)
    await peer.swim.start()
    void peer.swim.exchangeViews(bootstrap.id)
    void bootstrap.swim.exchangeViews(peer.id)
    return peer
  }

  /** The peer goes silent at once: its timers stop, nothing reaches it, it answers nothing. */
  crash (peer: SimPeer): void {
    if (peer.crashed) return
    peer.crashed = true
    peer.swim.stop()
    this.network.crash(peer.id)
    this.observer.removePeer(peer.id, peer.swim.view())
    this.observer.watchCrash(peer.id)
  }

  setSlow (peer: SimPeer, ms: number): void {
    peer.slow = ms > 0
    this.network.setSlow(peer.id, ms)
  }

  /** Puts each listed peer on its side of a partition; `undefined` heals. */
  partition (sides: ReadonlyMap<string, number> | undefined): void {
    this.network.partition(sides)
  }

  views (): Map<string, ClusterView> {
    return new Map([...this.peers.values()].map(p => [p.id, p.swim.view()]))
  }

  stopAll (): void {
    for (const p of this.peers.values()) p.swim.stop()
  }

  private create (seed: Announcement[], original: boolean): SimPeer {
    const index = this.nextIndex++
    const id = simPeerId(index)
    const swim = new Swim({
      selfId: id,
      self: describe(index),
      addrs: () => addrsOf(index, id),
      transport: this.network.attach(id),
      signer: simSigner,
      clock: this.clock,
      timing: this.timing,
      logger: LOGGER,
      random: mulberry32((this.seed * 1_000_003 + index) >>> 0),
      incarnation: INCARNATION,
      seed
    })
    const peer: SimPeer = { id, swim, slow: false, crashed: false, original }
    this.peers.set(id, peer)
    swim.addEventListener('change', this.observer.listener(id))
    this.observer.addPeer(id, swim.view())
    return peer
  }
}
