import type { ViewEntry } from './announcement.js'
import type { SwimReply, SwimRequest } from './messages.js'
import type { Announcement } from './types.js'

/**
 * How membership messages travel. The peer uses libp2p streams (libp2p-transport.ts); the
 * simulator (scripts/sim) a virtual network with latency and loss. Everything above this
 * interface — probing, dissemination, anti-entropy, the view — is the same code in both.
 */
export interface MembershipTransport {
  /**
   * Sends a request and resolves with the reply; rejects on failure or when `signal` aborts.
   * `onRoundTrip`, where the transport can time it: the round trip from our frame written to its
   * reply read, less the time the peer held the request (its `held_us`), so a busy answerer or
   * our own encoding does not read as network distance.
   */
  request: (to: string, message: SwimRequest, signal: AbortSignal, onRoundTrip?: (ms: number) => void) => Promise<SwimReply>
  /** Push-pull: sends our full view and resolves with theirs. */
  exchangeViews: (to: string, entries: ViewEntry[], signal: AbortSignal) => Promise<ViewEntry[]>
  /** Installs the handlers for what other peers send us (replaces any earlier ones). */
  handle: (handlers: MembershipHandlers | undefined) => void
  /** Whether a message to `peer` needs no new connection (dissemination prefers such peers). */
  isConnected: (peer: string) => boolean
  /**
   * Opens a connection to `peer` if there is none. A probe dials first, under its own bound, so a
   * slow handshake on a busy host is not taken for a peer that does not answer.
   */
  connect: (peer: string, signal: AbortSignal) => Promise<void>
}

export interface MembershipHandlers {
  /** Answers one request; bounded by its own timeouts (a relayed probe waits at most a probe timeout). */
  onRequest: (from: string, message: SwimRequest) => Promise<SwimReply>
  onViewExchange: (from: string, entries: ViewEntry[]) => Promise<ViewEntry[]>
}

/** Message counters for /metrics and the simulator's report. */
export interface MessageCounts {
  /** Messages received and accepted (requests, replies, view frames). */
  in: number
  /** Messages sent. */
  out: number
  /** Frames or updates refused (malformed, oversize, forged signature). */
  rejected: number
}

/**
 * Where our announcements are published besides SWIM: the gossipsub topic `harombe/membership/1`
 * in the peer (announcement-topic.ts). The simulator has none; SWIM carries every announcement there.
 */
export interface AnnouncementPublisher {
  /** Publishes our announcement; resolves with how many peers it was sent to (0: nobody heard it). */
  publish: (ann: Announcement) => Promise<number>
  /**
   * Members subscribed to the topic as far as we know now. With none, a publish would reach nobody
   * and still mark the version as seen (gossipsub will not publish it twice): it waits for a listener.
   * Absent: unknown, publish anyway.
   */
  listeners?: () => number
}

/** `t` as the schedulers use it: every message out and its answer counted in `counts` (for /metrics). */
export function countedTransport (t: MembershipTransport, counts: MessageCounts): Omit<MembershipTransport, 'handle'> {
  const counted = async <T>(send: () => Promise<T>): Promise<T> => {
    counts.out++
    const answer = await send()
    counts.in++
    return answer
  }
  return {
    request: async (to, message, signal, onRoundTrip) => await counted(async () => await t.request(to, message, signal, onRoundTrip)),
    exchangeViews: async (to, entries, signal) => await counted(async () => await t.exchangeViews(to, entries, signal)),
    isConnected: peer => t.isConnected(peer),
    connect: async (peer, signal) => { await t.connect(peer, signal) }
  }
}
