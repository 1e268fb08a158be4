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
 * (memberlist's gossip). An idle mesh sends nothing here. Members we already hold a connection
 * to are preferred as gossip targets: a gossip round should not cost a dial.
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
  /** Updates for one outgoing message (each counts as a transmission). */
  piggyback: () => Update[]
  /** Sends `updates` to each of `peers` at once (a goodbye must not wait for gossip rounds). */
  sendNow: (peers: readonly string[], updates: Update[], signal?: AbortSignal) => Promise<void>
  readonly queued: number
}

export function createDissemination (init: DisseminationInit): Dissemination {
  const queue = new BroadcastQueue(init.timing.retransmitMult)
  let timer: { stop: () => void } | undefined

  const send = async (to: string, updates: Update[], timeoutMs: number, outer?: AbortSignal): Promise<void> => {
    const { signal, clear } = clockTimeout(init.clock, timeoutMs, `gossip to ${to}`)
    const onAbort = (): void => { clear() }
    outer?.addEventListener('abort', onAbort, { once: true })
    try {
      const reply = await init.transport.request(to, { type: 'gossip', updates }, outer != null ? AbortSignal.any([signal, outer]) : signal)
      init.onReply(to, reply)
    } catch {
      // Lost gossip is normal; the queue retransmits and anti-entropy repairs.
    } finally {
      clear()
      outer?.removeEventListener('abort', onAbort)
    }
  }

  const round = (): void => {
    if (queue.size === 0) return
    const { peers, n } = init.targets()
    if (peers.length === 0) return
    const connected = peers.filter(p => init.transport.isConnected(p))
    let chosen = pickRandom(connected, init.timing.gossipFanout, new Set(), init.random)
    if (chosen.length < init.timing.gossipFanout) {
      chosen = [...chosen, ...pickRandom(peers, init.timing.gossipFanout - chosen.length, new Set(chosen), init.random)]
    }
    for (const peer of chosen) {
      const updates = queue.take(MAX_PIGGYBACK, n)
      if (updates.length === 0) break
      void send(peer, updates, 4 * init.timing.probeTimeoutMs)
    }
  }

  return {
    start () {
      timer ??= every(init.clock, () => init.timing.gossipIntervalMs, round)
    },
    stop () {
      timer?.stop()
      timer = undefined
    },
    enqueue: update => { queue.enqueue(update) },
    forget: peer => { queue.forget(peer) },
    piggyback: () => queue.take(MAX_PIGGYBACK, init.targets().n),
    async sendNow (peers, updates, signal) {
      await Promise.all(peers.map(async peer => { await send(peer, updates, 4 * init.timing.probeTimeoutMs, signal) }))
    },
    get queued () { return queue.size }
  }
}
