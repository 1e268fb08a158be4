// The simulated network: one `MembershipTransport` per peer over virtual time, with latency, loss,
// crashed (silent) peers, slow peers and a partition. Counts what every peer sends and receives.
import type { ViewEntry } from '../../src/membership/announcement.js'
import type { SwimReply, SwimRequest, Update } from '../../src/membership/messages.js'
import type { MembershipHandlers, MembershipTransport } from '../../src/membership/transport.js'
import type { Announcement } from '../../src/membership/types.js'
import type { VirtualClock } from './virtual-clock.js'

export interface NetworkInit {
  clock: VirtualClock
  random: () => number
  /** One-way latency, drawn uniformly per message (ms). */
  latencyMs: readonly [number, number]
  /** Probability that one message (each direction independently) is lost. */
  loss: number
}

/** What one peer sent and received (messages: requests, replies and view frames). */
export interface TrafficCounts {
  sentMsgs: number
  sentBytes: number
  recvMsgs: number
  recvBytes: number
  /** Of the sent ones: push-pull view frames (sent both ways of an exchange). */
  sentViewMsgs: number
  sentViewBytes: number
}

interface Endpoint {
  id: string
  handlers: MembershipHandlers | undefined
  crashed: boolean
  /** Extra delay before this peer sees any message (a busy host: requests and replies alike). */
  slowMs: number
  /** Partition side; messages only flow between equal sides. */
  side: number
  traffic: TrafficCounts
}

/** The length prefix of a frame (it-length-prefixed varint; frames here are < 2 MB). */
export const FRAME_PREFIX_BYTES = 3

/**
 * Bytes are estimated as the JSON length of each frame (what libp2p-transport.ts writes, before
 * noise and yamux framing); announcement sizes are cached per object, so a 1,000-entry view
 * costs 1,000 map look-ups, not 1,000 stringifications.
 */
export class SizeEstimator {
  private readonly announcements = new WeakMap<Announcement, number>()
  private readonly updates = new WeakMap<Update, number>()

  announcement (ann: Announcement): number {
    let size = this.announcements.get(ann)
    if (size == null) {
      size = JSON.stringify(ann).length
      this.announcements.set(ann, size)
    }
    return size
  }

  update (update: Update): number {
    let size = this.updates.get(update)
    if (size == null) {
      // `{"type":"alive","announcement":…}` around the cached announcement.
      size = update.type === 'alive' ? 32 + this.announcement(update.announcement) : JSON.stringify(update).length
      this.updates.set(update, size)
    }
    return size
  }

  /** A request or reply frame: the small envelope is stringified, the updates and `self` are looked up. */
  message (message: SwimRequest | SwimReply): number {
    const { updates, ...rest } = message
    let size = JSON.stringify({ ...rest, self: undefined, updates: [] }).length
    for (const u of updates) size += this.update(u)
    if (updates.length > 1) size += updates.length - 1
    if ('self' in message && message.self != null) size += 8 + this.announcement(message.self)
    return size + FRAME_PREFIX_BYTES
  }

  /** A push-pull frame: `{"entries":[{"announcement":…,"state":"alive"},…]}`. */
  view (entries: readonly ViewEntry[]): number {
    let size = 14
    for (const e of entries) size += 28 + e.state.length + this.announcement(e.announcement)
    if (entries.length > 1) size += entries.length - 1
    return size + FRAME_PREFIX_BYTES
  }
}

/**
 * Messages are delivered after a uniform latency (plus the receiver's slowness), lost with
 * probability `loss` in each direction independently, and never delivered to or from a crashed
 * peer or across the partition. A lost request or reply simply never arrives: the caller's
 * AbortSignal (its probe timeout) rejects the request, as on the real network. `isConnected` is
 * true for every pair: the simulator models no connection budget (the real mesh keeps a bounded
 * set, and probes and gossips over it), so the prober's round-robin and dissemination pick among
 * all members, as plain SWIM does.
 */
export class SimNetwork {
  private readonly endpoints = new Map<string, Endpoint>()
  private readonly clock: VirtualClock
  private readonly random: () => number
  private readonly latency: readonly [number, number]
  readonly sizes = new SizeEstimator()
  loss: number
  /** Messages dropped by loss, by a crashed end and by the partition. */
  readonly dropped = { loss: 0, crashed: 0, partition: 0 }

  constructor (init: NetworkInit) {
    this.clock = init.clock
    this.random = init.random
    this.latency = init.latencyMs
    this.loss = init.loss
  }

  /** A transport for peer `id` (a new endpoint, alive, on side 0). */
  attach (id: string): MembershipTransport {
    const endpoint: Endpoint = { id, handlers: undefined, crashed: false, slowMs: 0, side: 0, traffic: { sentMsgs: 0, sentBytes: 0, recvMsgs: 0, recvBytes: 0, sentViewMsgs: 0, sentViewBytes: 0 } }
    this.endpoints.set(id, endpoint)
    return {
      request: async (to, message, signal) => await this.request(endpoint, to, message, signal),
      exchangeViews: async (to, entries, signal) => await this.exchangeViews(endpoint, to, entries, signal),
      handle: handlers => { endpoint.handlers = handlers },
      isConnected: () => true,
      connect: async (to, signal) => { await this.connect(endpoint, to, signal) }
    }
  }

  /**
   * Every pair is connected (isConnected is always true), so the SWIM code never dials; should it,
   * a reachable peer connects at once and an unreachable one never does (the signal ends the wait).
   */
  private async connect (from: Endpoint, toId: string, signal: AbortSignal): Promise<void> {
    const to = this.endpoints.get(toId)
    if (to != null && !to.crashed && !from.crashed && to.side === from.side) return
    await new Promise<void>((resolve, reject) => {
      if (signal.aborted) { reject(signal.reason); return }
      signal.addEventListener('abort', () => { reject(signal.reason) }, { once: true })
    })
  }

  /** The peer goes silent at once: nothing more reaches it or leaves it. */
  crash (id: string): void {
    const e = this.endpoints.get(id)
    if (e != null) e.crashed = true
  }

  setSlow (id: string, ms: number): void {
    const e = this.endpoints.get(id)
    if (e != null) e.slowMs = ms
  }

  /** Puts each listed peer on its side; `undefined` heals (everyone back on side 0). */
  partition (sides: ReadonlyMap<string, number> | undefined): void {
    for (const e of this.endpoints.values()) e.side = sides?.get(e.id) ?? 0
  }

  traffic (id: string): TrafficCounts {
    const e = this.endpoints.get(id)
    if (e == null) throw new Error(`unknown peer ${id}`)
    return e.traffic
  }

  /**
   * One message from `from` to `to`: counted as sent, then either lost or delivered after the
   * latency, where `deliver` runs (if the receiver is still up). `cancelled` lets a reply nobody
   * waits for any more skip its delivery event (it is still counted as sent).
   */
  private send (from: Endpoint, to: Endpoint | undefined, bytes: number, view: boolean, deliver: () => void, cancelled?: () => boolean): void {
    // A crashed peer sends nothing (its pending async work may still try).
    if (from.crashed) return
    from.traffic.sentMsgs++
    from.traffic.sentBytes += bytes
    if (view) {
      from.traffic.sentViewMsgs++
      from.traffic.sentViewBytes += bytes
    }
    if (to == null || to.crashed) { this.dropped.crashed++; return }
    if (to.side !== from.side) { this.dropped.partition++; return }
    if (this.loss > 0 && this.random() < this.loss) { this.dropped.loss++; return }
    if (cancelled?.() === true) return
    const [lo, hi] = this.latency
    const delay = lo + (hi - lo) * this.random() + to.slowMs
    this.clock.setTimeout(() => {
      // A crash or partition that began in flight also stops the message.
      if (to.crashed || from.crashed) { this.dropped.crashed++; return }
      if (to.side !== from.side) { this.dropped.partition++; return }
      to.traffic.recvMsgs++
      to.traffic.recvBytes += bytes
      deliver()
    }, delay)
  }

  /** Sends a frame, has the receiver's handler answer, and carries the answer back; the signal ends the wait. */
  private async roundTrip<T> (view: boolean, from: Endpoint, toId: string, bytes: number, signal: AbortSignal, handle: (h: MembershipHandlers) => Promise<T>, replyBytes: (reply: T) => number): Promise<T> {
    if (signal.aborted) throw signal.reason
    const to = this.endpoints.get(toId)
    return await new Promise<T>((resolve, reject) => {
      let done = false
      const onAbort = (): void => {
        if (done) return
        done = true
        reject(signal.reason)
      }
      signal.addEventListener('abort', onAbort, { once: true })
      const isDone = (): boolean => done
      this.send(from, to, bytes, view, () => {
        const handlers = to?.handlers
        if (to == null || handlers == null) return
        handle(handlers).then(reply => {
          this.send(to, from, replyBytes(reply), view, () => {
            if (done) return
            done = true
            signal.removeEventListener('abort', onAbort)
            resolve(reply)
          }, isDone)
        }, () => { /* a failing handler sends nothing back; the caller's timeout fires */ })
      })
    })
  }

  private async request (from: Endpoint, to: string, message: SwimRequest, signal: AbortSignal): Promise<SwimReply> {
    return await this.roundTrip(false, from, to, this.sizes.message(message), signal,
      async h => await h.onRequest(from.id, message),
      reply => this.sizes.message(reply))
  }

  private async exchangeViews (from: Endpoint, to: string, entries: ViewEntry[], signal: AbortSignal): Promise<ViewEntry[]> {
    return await this.roundTrip(true, from, to, this.sizes.view(entries), signal,
      async h => await h.onViewExchange(from.id, entries),
      theirs => this.sizes.view(theirs))
  }
}
