import { clockTimeout, every, type Clock } from './clock.js'
import { pickRandom } from './probe-order.js'
import type { ViewEntry } from './announcement.js'
import type { MembershipTransport } from './transport.js'
import type { TimingProfile } from './profiles.js'

/**
 * Push-pull anti-entropy (memberlist's pushPull): now and then the full view is exchanged with one
 * random member, which repairs whatever gossip missed (lost messages, a partition). The interval
 * is jittered ±50 % and grows with log2 N above 32 members, as memberlist scales it, so a large
 * cluster does not spend its bandwidth on full views.
 */
export interface AntiEntropyInit {
  clock: Clock
  transport: Pick<MembershipTransport, 'exchangeViews'>
  timing: Pick<TimingProfile, 'antiEntropyIntervalMs' | 'pingTimeoutMs'>
  random: () => number
  /** Members to exchange with (alive, not us). */
  peers: () => readonly string[]
  /** Members in the view, for the interval's scale. */
  n: () => number
  entries: () => ViewEntry[]
  apply: (from: string, entries: ViewEntry[]) => Promise<void>
  onError: (peer: string, err: Error) => void
}

export interface AntiEntropy {
  start: () => void
  stop: () => void
  /** One push-pull with `peer` now (a new connection, a joiner's first contact). */
  exchange: (peer: string) => Promise<void>
}

/** memberlist's pushPullScale: 1 up to 32 members, then +1 per doubling. */
export function pushPullScale (n: number): number {
  const threshold = 32
  if (n <= threshold) return 1
  return Math.ceil(Math.log2(n) - Math.log2(threshold)) + 1
}

export function createAntiEntropy (init: AntiEntropyInit): AntiEntropy {
  let timer: { stop: () => void } | undefined

  const exchange = async (peer: string): Promise<void> => {
    // A full view may be large and cross a fresh dial: the ping bound, a few times over.
    const { signal, clear } = clockTimeout(init.clock, 5 * init.timing.pingTimeoutMs, `view exchange with ${peer}`)
    try {
      const theirs = await init.transport.exchangeViews(peer, init.entries(), signal)
      await init.apply(peer, theirs)
    } catch (err: any) {
      init.onError(peer, err)
    } finally {
      clear()
    }
  }

  const delay = (): number => {
    const base = init.timing.antiEntropyIntervalMs * pushPullScale(init.n())
    return Math.round(base * (0.5 + init.random()))
  }

  return {
    start () {
      timer ??= every(init.clock, delay, () => {
        const [peer] = pickRandom(init.peers(), 1, new Set(), init.random)
        if (peer != null) void exchange(peer)
      })
    },
    stop () {
      timer?.stop()
      timer = undefined
    },
    exchange
  }
}
