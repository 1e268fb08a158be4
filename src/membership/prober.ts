import { clockTimeout, every, type Clock } from './clock.js'
import { EMPTY_ORDER, nextProbeTarget, pickRandom, type ProbeOrder } from './probe-order.js'
import type { SwimReply, SwimRequest } from './messages.js'
import type { MembershipTransport } from './transport.js'
import type { TimingProfile } from './profiles.js'

/**
 * The failure detector (SWIM §3 with memberlist's refinements): each protocol period one member is
 * probed, round-robin over a shuffled list, on whatever connection reaches it. No answer within the
 * probe timeout → `indirectChecks` other members are asked to probe it for us (a lossy link or a
 * busy host between us is not a dead peer); only when none of them gets an answer either is the
 * result a failure. Suspects are also probed every period until settled (an answer revives, a
 * failure confirms), and dead members every `reconnectIntervalMs`, which is what re-joins the two
 * sides of a healed partition. The verdicts themselves are the caller's (`onResult`).
 */
export interface ProberInit {
  clock: Clock
  transport: Pick<MembershipTransport, 'request'>
  timing: Pick<TimingProfile, 'probeIntervalMs' | 'probeTimeoutMs' | 'indirectChecks' | 'reconnectIntervalMs' | 'pingTimeoutMs'>
  random: () => number
  /** Who is probed: the round-robin pool (alive and suspect members), the suspects, the dead, and who may relay. */
  targets: () => ProbeTargets
  /** The direct ping to send `target` (piggybacked updates, what we hold about it). */
  ping: (target: string) => SwimRequest
  /** An indirect probe request for `target`, to send to an intermediary. */
  pingReq: (target: string) => SwimRequest
  /** Extra time on every timeout while this process itself runs late (Lifeguard local health). */
  slackMs: () => number
  /** Every reply that arrives (direct or relayed), with the round trip of a direct one. */
  onReply: (from: string, reply: SwimReply, rttMs: number | undefined) => void
  onResult: (target: string, result: ProbeResult) => void
}

export interface ProbeTargets {
  /** Alive and suspect members (not us): the round-robin pool. */
  pool: readonly string[]
  suspects: readonly string[]
  dead: readonly string[]
  /** Members that may be asked to relay a probe (alive, not us). */
  relays: readonly string[]
}

export type ProbeResult =
  | { ok: true, via: 'direct' | 'indirect' }
  | { ok: false, reason: string }

export interface Prober {
  start: () => void
  stop: () => void
  /** Probes `peer` now, outside the rotation (its connection closed, it was just learned of…). */
  probeNow: (peer: string) => void
  /** Probes under way. */
  readonly inFlight: number
}

export function createProber (init: ProberInit): Prober {
  const { clock, timing } = init
  let order: ProbeOrder = EMPTY_ORDER
  let timer: { stop: () => void } | undefined
  let running = false
  const inFlight = new Set<string>()
  const lastReconnect = new Map<string, number>()

  const request = async (to: string, message: SwimRequest, timeoutMs: number): Promise<SwimReply> => {
    const { signal, clear } = clockTimeout(clock, timeoutMs, `probe of ${to}`)
    try {
      return await init.transport.request(to, message, signal)
    } finally {
      clear()
    }
  }

  const indirect = async (target: string, relays: readonly string[]): Promise<boolean> => {
    const chosen = pickRandom(relays, timing.indirectChecks, new Set([target]), init.random)
    if (chosen.length === 0) return false
    // Two hops each way: twice the direct bound.
    const timeoutMs = 2 * timing.probeTimeoutMs + init.slackMs()
    const answers = await Promise.all(chosen.map(async relay => {
      try {
        const reply = await request(relay, init.pingReq(target), timeoutMs)
        init.onReply(relay, reply, undefined)
        return reply.type === 'ack'
      } catch {
        return false
      }
    }))
    return answers.some(Boolean)
  }

  /** `reconnect`: a dead member, probed to see whether it is back (a dial may be needed; no relays). */
  const probe = (target: string, reconnect = false): void => {
    if (!running || inFlight.has(target)) return
    inFlight.add(target)
    const started = clock.now()
    const timeoutMs = (reconnect ? timing.pingTimeoutMs : timing.probeTimeoutMs) + init.slackMs()
    void (async (): Promise<ProbeResult> => {
      let directFailure: string
      try {
        const reply = await request(target, init.ping(target), timeoutMs)
        init.onReply(target, reply, clock.now() - started)
        return { ok: true, via: 'direct' }
      } catch (err: any) {
        directFailure = err?.name === 'ProbeTimeoutError' ? `no answer within ${timeoutMs} ms` : `probe failed: ${err?.message ?? err}`
      }
      if (!running || reconnect) return { ok: false, reason: directFailure }
      if (await indirect(target, init.targets().relays)) return { ok: true, via: 'indirect' }
      return { ok: false, reason: `${directFailure}; no indirect answer` }
    })().then(result => {
      inFlight.delete(target)
      if (running) init.onResult(target, result)
    })
  }

  const period = (): void => {
    const targets = init.targets()
    const next = nextProbeTarget(order, targets.pool, init.random)
    order = next.state
    if (next.target != null) probe(next.target)
    // Suspects: settle them as fast as the period allows (an answer revives, a failure confirms).
    for (const suspect of targets.suspects) probe(suspect)
    const now = clock.now()
    for (const dead of targets.dead) {
      if (now - (lastReconnect.get(dead) ?? -Infinity) < timing.reconnectIntervalMs) continue
      lastReconnect.set(dead, now)
      probe(dead, true)
    }
    if (lastReconnect.size > targets.dead.length * 2 + 16) {
      const dead = new Set(targets.dead)
      for (const peer of lastReconnect.keys()) if (!dead.has(peer)) lastReconnect.delete(peer)
    }
  }

  return {
    start () {
      if (running) return
      running = true
      // A random phase, so peers started together do not probe in lockstep.
      timer = every(clock, (() => {
        let first = true
        return () => {
          if (!first) return timing.probeIntervalMs
          first = false
          return Math.floor(init.random() * timing.probeIntervalMs)
        }
      })(), period)
    },
    stop () {
      running = false
      timer?.stop()
    },
    probeNow: peer => { probe(peer) },
    get inFlight () { return inFlight.size }
  }
}
