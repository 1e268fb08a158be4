import { clockTimeout, every, type Clock } from './clock.js'
import { EMPTY_ORDER, nextProbeTarget, pickRandom, type ProbeOrder } from './probe-order.js'
import type { SwimReply, SwimRequest } from './messages.js'
import type { MembershipTransport } from './transport.js'
import type { TimingProfile } from './profiles.js'
import { echoDue } from './rtt.js'

/**
 * The failure detector (SWIM §3 with memberlist's refinements): each protocol period one member is
 * probed, round-robin over a shuffled list, on whatever connection reaches it. No answer within the
 * probe timeout → `indirectChecks` other members are asked to probe it for us (a lossy link or a
 * busy host between us is not a dead peer); only when none of them gets an answer either is the
 * result a failure. A new suspect is probed once more at once (`probeNow`: an answer revives, a
 * failure confirms), and dead members every `reconnectIntervalMs` or so, which is what re-joins
 * the two sides of a healed partition. The verdicts themselves are the caller's (`onResult`).
 */
export interface ProberInit {
  clock: Clock
  transport: Pick<MembershipTransport, 'request' | 'isConnected' | 'connect'>
  /** `rttSampleIntervalMs` absent: an echo after every answered probe. */
  timing: Pick<TimingProfile, 'probeIntervalMs' | 'probeTimeoutMs' | 'indirectChecks' | 'reconnectIntervalMs' | 'pingTimeoutMs'> & Partial<Pick<TimingProfile, 'rttSampleIntervalMs'>>
  random: () => number
  /** Who is probed: the round-robin pool (alive and suspect members), the dead, and who may relay. */
  targets: () => ProbeTargets
  /** The direct ping to send `target` (piggybacked updates, what we hold about it). */
  ping: (target: string) => SwimRequest
  /** An indirect probe request for `target`, to send to an intermediary. */
  pingReq: (target: string) => SwimRequest
  /** Extra time on every timeout while this process itself runs late (Lifeguard local health). */
  slackMs: () => number
  /** Every reply that arrives (direct or relayed), with a round trip where one was timed. */
  onReply: (from: string, reply: SwimReply, rttMs: number | undefined) => void
  onResult: (target: string, result: ProbeResult) => void
  /** Each protocol period, with the time it fired: how late this process's timers run (local health). */
  onPeriod?: (now: number) => void
}

/** A dead member is probed every reconnectIntervalMs at first, backing off to this many times it. */
export const RECONNECT_BACKOFF_MAX = 3

export interface ProbeTargets {
  /** Alive and suspect members (not us): the round-robin pool. */
  pool: readonly string[]
  dead: readonly string[]
  /** Members that may be asked to relay a probe (alive, not us). */
  relays: readonly string[]
}

export type ProbeResult =
  | { ok: true, via: 'direct' | 'indirect' }
  | { ok: false, reason: string }

/**
 * `direct`: ping, then relays if it does not answer. `relays`: only ask others (we just lost our
 * connection to it: whether it died or the connection was merely closed, others can tell without
 * us dialing it back). `reconnect`: a dead member, pinged to see whether it is back.
 */
export type ProbeMode = 'direct' | 'relays' | 'reconnect'

export interface Prober {
  start: () => void
  stop: () => void
  /** Probes `peer` now, outside the rotation (a new suspect, a connection that closed…). */
  probeNow: (peer: string, mode?: ProbeMode) => void
  /** Pings `target` on another member's behalf: whether it answered (its reply goes to onReply too). */
  relay: (target: string) => Promise<boolean>
  /** Probes under way. */
  readonly inFlight: number
}

export function createProber (init: ProberInit): Prober {
  const { clock, timing } = init
  let order: ProbeOrder = EMPTY_ORDER
  let timer: { stop: () => void } | undefined
  let running = false
  const inFlight = new Set<string>()
  const lastReconnect = new Map<string, { at: number, waitMs: number }>()
  /** When each member's last round-trip echo was sent (rttSampleIntervalMs). */
  const lastEcho = new Map<string, number>()

  const request = async (to: string, message: SwimRequest, timeoutMs: number, onRoundTrip?: (ms: number) => void): Promise<SwimReply> => {
    const { signal, clear } = clockTimeout(clock, timeoutMs, `probe of ${to}`)
    try {
      return await init.transport.request(to, message, signal, onRoundTrip)
    } finally {
      clear()
    }
  }

  /** Connects if needed (bounded by the dial allowance), then pings within the probe timeout. */
  const ping = async (target: string, timeoutMs: number): Promise<SwimReply> => {
    if (!init.transport.isConnected(target)) {
      const { signal, clear } = clockTimeout(clock, timing.pingTimeoutMs + init.slackMs(), `connecting to ${target}`)
      try {
        await init.transport.connect(target, signal)
      } catch (err: any) {
        throw new Error(`cannot connect: ${err?.name === 'ProbeTimeoutError' ? `no connection within ${timing.pingTimeoutMs} ms` : err?.message ?? err}`)
      } finally {
        clear()
      }
    }
    return await request(target, init.ping(target), timeoutMs)
  }

  /**
   * The round trip to a member that just answered a ping (at most once per rttSampleIntervalMs
   * per member): an empty gossip (a no-op every version answers with an empty ack) sent at once,
   * while both processes are awake. The ping's own round
   * trip is mostly waking two idle processes on this kind of machine (a 200-byte echo on an open
   * libp2p stream: 1.8 ms p50 at 20 ms or more apart, 0.36 ms back to back), which is not
   * distance. The transport's figure where it has one (the wire's round trip less the answerer's
   * time), else our own clock around the request. Never fails the probe: it already succeeded.
   */
  const timeRoundTrip = async (target: string): Promise<void> => {
    // Called through the clock: a virtual clock's methods need their `this`.
    const now = (): number => clock.precise?.() ?? clock.now()
    let wireMs: number | undefined
    const started = now()
    try {
      const reply = await request(target, { type: 'gossip', updates: [] }, timing.probeTimeoutMs + init.slackMs(), ms => { wireMs = ms })
      if (running) init.onReply(target, reply, wireMs ?? now() - started)
    } catch {
      // A lost echo is not a verdict; the next probe times another.
    }
  }

  const indirect = async (target: string, relays: readonly string[]): Promise<boolean> => {
    // Relays we hold a connection to: asking never costs a dial of ours.
    const connected = relays.filter(r => r !== target && init.transport.isConnected(r))
    const chosen = pickRandom(connected, timing.indirectChecks, new Set([target]), init.random)
    if (chosen.length === 0) return false
    // Two hops each way (and maybe a dial at the relay): the relay's bounds plus a margin.
    const timeoutMs = 2 * timing.probeTimeoutMs + timing.pingTimeoutMs + init.slackMs()
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

  const probe = (target: string, mode: ProbeMode = 'direct'): void => {
    if (!running || inFlight.has(target)) return
    inFlight.add(target)
    const timeoutMs = (mode === 'reconnect' ? timing.pingTimeoutMs : timing.probeTimeoutMs) + init.slackMs()
    void (async (): Promise<ProbeResult> => {
      let directFailure = 'connection closed'
      // Relays only when one is connected: indirect() never dials one, so with none connected
      // (a peer with few connections, a closed one among them) asking "others" would be no probe
      // at all, and the member would be suspected at once. Then we ping it ourselves, dial included.
      if (mode !== 'relays' || !init.targets().relays.some(r => r !== target && init.transport.isConnected(r))) {
        try {
          init.onReply(target, await ping(target, timeoutMs), undefined)
          const now = clock.now()
          // Not after stop(): a stopped peer sends nothing more (the ack may have come in just before).
          if (running && echoDue(lastEcho.get(target), now, timing.rttSampleIntervalMs ?? 0)) {
            lastEcho.set(target, now)
            void timeRoundTrip(target)
          }
          return { ok: true, via: 'direct' }
        } catch (err: any) {
          directFailure = err?.name === 'ProbeTimeoutError' ? `no answer within ${timeoutMs} ms` : `probe failed: ${err?.message ?? err}`
        }
      }
      if (!running || mode === 'reconnect') return { ok: false, reason: directFailure }
      if (await indirect(target, init.targets().relays)) return { ok: true, via: 'indirect' }
      return { ok: false, reason: `${directFailure}; no indirect answer` }
    })().then(result => {
      inFlight.delete(target)
      if (running) init.onResult(target, result)
    })
  }

  const period = (): void => {
    init.onPeriod?.(clock.now())
    const targets = init.targets()
    // On connections already open (bounded, issue 12): each member is probed by its neighbours,
    // about once per period whatever N is, and a probe costs no dial. A member we hold no
    // connection to is its neighbours' to watch; a peer with no connections probes anyone.
    // A peer with no connection at all is not in the mesh yet (or its network is down): it has
    // nothing to say about others, and auto-dial is already working on getting it back in.
    const connected = targets.pool.filter(p => init.transport.isConnected(p))
    const next = nextProbeTarget(order, connected, init.random)
    order = next.state
    if (next.target != null) probe(next.target)
    const now = clock.now()
    for (const dead of targets.dead) {
      const last = lastReconnect.get(dead)
      if (last != null && now - last.at < last.waitMs) continue
      // Backing off to a few intervals: a dead peer costs a dial now and then, not a storm of them
      // when many are dead at once (an overloaded start, the far side of a partition).
      lastReconnect.set(dead, { at: now, waitMs: Math.min(RECONNECT_BACKOFF_MAX * timing.reconnectIntervalMs, last == null ? timing.reconnectIntervalMs : last.waitMs * 2) })
      probe(dead, 'reconnect')
    }
    if (lastReconnect.size > targets.dead.length * 2 + 16) {
      const dead = new Set(targets.dead)
      for (const peer of lastReconnect.keys()) if (!dead.has(peer)) lastReconnect.delete(peer)
    }
    // Members no longer in the pool are forgotten now and then, so the map stays bounded.
    if (lastEcho.size > targets.pool.length * 2 + 16) {
      const pool = new Set(targets.pool)
      for (const peer of lastEcho.keys()) if (!pool.has(peer)) lastEcho.delete(peer)
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
    probeNow: (peer, mode) => { probe(peer, mode) },
    async relay (target) {
      try {
        init.onReply(target, await ping(target, timing.probeTimeoutMs + init.slackMs()), undefined)
        return true
      } catch {
        return false
      }
    },
    get inFlight () { return inFlight.size }
  }
}
