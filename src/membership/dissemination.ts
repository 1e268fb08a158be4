import { clockTimeout, every, type Clock } from './clock.js'
import { BroadcastQueue } from './broadcasts.js'
import { pickRandom } from './probe-order.js'
import type { SwimReply, Update } from './messages.js'
import type { MembershipTransport } from './transport.js'
import type { TimingProfile } from './profiles.js'

/** Updates piggybacked on one probe, ack or gossip message: a few announcements, well under a frame. */
export const MAX_PIGGYBACK = 8

/**
 * Change-only dissemination: what is queued goes out piggybacked on probes and acks, and, while
 * anything is queued, in gossip rounds to `gossipFanout` random members every `gossipIntervalMs`
 * (memberlist's gossip). An idle mesh sends nothing here. Gossip goes to members we hold a
 * connection to: with bounded connections that is a random overlay of up to 16 neighbours, which
 * spreads a change to everyone as an epidemic does, and a round never costs a dial.
 */
export interface DisseminationInit {
  clock: Clock
  transport: Pick<MembershipTransport, 'request' | 'isConnected'>
  timing: Pick<TimingProfile, 'gossipIntervalMs' | 'gossipFanout' | 'retransmitMult' | 'probeTimeoutMs'>
  random: () => number
  /** Members gossip may go to (alive and suspect, not us) and the cluster size. */
  targets: () => { peers: readonly string[], n: number }
  onReply: (from: string, reply: SwimReply) => void
}

export interface Dissemination {
  start: () => void
  stop: () => void
  enqueue: (update: Update) => void
  forget: (peer: string) => void
  /** Whether an update about `peer` is still queued. */
  isQueued: (peer: string) => boolean
  /** Updates for one outgoing message (each counts as a transmission). */
  piggyback: () => Update[]
  /** The member list changed: someone may now take what is queued. */
  membersChanged: () => void
  /** Sends `updates` to each of `peers` at once (a goodbye must not wait for gossip rounds). */
  sendNow: (peers: readonly string[], updates: Update[], signal?: AbortSignal) => Promise<void>
  readonly queued: number
}

export function createDissemination (init: DisseminationInit): Dissemination {
  const queue = new BroadcastQueue(init.timing.retransmitMult)
  let timer: { stop: () => void } | undefined
  let running = false
  /** Set when a round found nobody to send to; cleared when the member list changes. */
  let alone = false

  /** Gossip rounds run only while something is queued and someone can take it: an idle mesh wakes for nothing. */
  const sync = (): void => {
    if (running && queue.size > 0 && !alone) {
      timer ??= every(init.clock, () => init.timing.gossipIntervalMs, round)
    } else if (timer != null) {
      timer.stop()
      timer = undefined
    }
  }

  // A gossip answer is an empty ack: a few probe timeouts bound it, a dial included.
  const gossipTimeoutMs = 4 * init.timing.probeTimeoutMs

  const send = async (to: string, updates: Update[], outer?: AbortSignal): Promise<void> => {
    const { signal, clear } = clockTimeout(init.clock, gossipTimeoutMs, `gossip to ${to}`)
    try {
      const reply = await init.transport.request(to, { type: 'gossip', updates }, outer != null ? AbortSignal.any([signal, outer]) : signal)
      init.onReply(to, reply)
    } catch {
      // Lost gossip is normal; the queue retransmits and anti-entropy repairs.
    } finally {
      clear()
    }
  }

  function round (): void {
    const { peers, n } = init.targets()
    if (peers.length === 0) { alone = true; sync(); return }
    // Only over open connections: a gossip round never dials. With none open (a peer still
    // joining) it goes to anyone, or it would never leave.
    const connected = peers.filter(p => init.transport.isConnected(p))
    const chosen = pickRandom(connected.length > 0 ? connected : peers, init.timing.gossipFanout, new Set(), init.random)
    for (const peer of chosen) {
      const updates = queue.take(MAX_PIGGYBACK, n)
      if (updates.length === 0) break
      void send(peer, updates)
    }
    sync()
  }

  return {
    start () {
      running = true
      sync()
    },
    stop () {
      running = false
      sync()
    },
    enqueue: update => { queue.enqueue(update); sync() },
    forget: peer => { queue.forget(peer); sync() },
    isQueued: peer => queue.has(peer),
    membersChanged: () => { alone = false; sync() },
    piggyback: () => {
      const updates = queue.take(MAX_PIGGYBACK, init.targets().n)
      if (queue.size === 0) sync()
      return updates
    },
    async sendNow (peers, updates, signal) {
      await Promise.all(peers.map(async peer => { await send(peer, updates, signal) }))
    },
    get queued () { return queue.size }
  }
}
