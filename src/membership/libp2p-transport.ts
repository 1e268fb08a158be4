import * as lp from 'it-length-prefixed'
import { pipe } from 'it-pipe'
import { peerIdFromString } from '@libp2p/peer-id'
import type { Stream } from '@libp2p/interface'
import { hasOpenConnection, type MeshNode } from '../mesh/node.js'
import type { Logger } from '../log.js'
import { MAX_SWIM_FRAME_BYTES, MAX_VIEW_FRAME_BYTES, SWIM_MAX_STREAMS, SWIM_PROTOCOL, VIEW_EXCHANGE_TIMEOUT_MS, VIEW_PROTOCOL } from '../mesh/constants.js'
import { decodeView, encodeView, type ViewEntry } from './announcement.js'
import type { SwimReply, SwimRequest } from './messages.js'
import { openChannel, serveChannel, type Channel } from './swim-channel.js'
import type { MembershipHandlers, MembershipTransport } from './transport.js'

export interface Libp2pTransport extends MembershipTransport {
  start: () => Promise<void>
  stop: () => Promise<void>
  /** Frames refused at the door (malformed, oversize, a reply where a request belongs). */
  readonly rejected: number
  /** Channels held (open, or being opened): at most one per connected peer. */
  readonly channels: number
}

/**
 * The first length-prefixed frame of a view stream (one frame each way). The view exchange runs on
 * a new connection and every 10–30 s, so it is written as the ecosystem's stream pipeline
 * (it-pipe, it-length-prefixed); the hot SWIM channel uses our own framing (mesh/framing.ts, measured faster).
 */
async function firstFrame (frames: AsyncIterable<{ subarray: () => Uint8Array }>, what: string): Promise<Uint8Array> {
  for await (const frame of frames) return frame.subarray()
  throw new Error(`stream ended before ${what}`)
}

/**
 * Membership over libp2p, on connections libp2p already holds (or dials on demand).
 * `/harombe/swim/1.0.0`: one long-lived stream per peer and direction carries probes, relayed
 * probes and gossip with their replies (swim-channel.ts); `/harombe/view/1.0.0`: one short stream
 * per push-pull, a full view each way. Frames are length-prefixed, bounded, and validated before
 * anything reads them; a bad frame is dropped and logged, and the peer keeps serving.
 */
export function createLibp2pTransport (node: MeshNode, logger: Logger): Libp2pTransport {
  let handlers: MembershipHandlers | undefined
  let rejected = 0
  /**
   * Our open channel to each peer, or the dial opening it. Bounded by construction: a channel is
   * dropped when its stream ends (a peer that left or died takes its stream with it), so the map
   * holds one entry per peer with a live membership stream, at most one per open connection.
   * It used to keep every closed channel (and its stream) of every peer it ever probed until that
   * peer was probed again: one lost entry per departed peer, for the life of the process.
   */
  const channels = new Map<string, Channel | Promise<Channel>>()

  const channelTo = async (to: string, signal: AbortSignal): Promise<Channel> => {
    const existing = channels.get(to)
    if (existing != null && (existing instanceof Promise || existing.open)) return await existing
    let opened: Channel | undefined
    let closed = false
    const onClosed = (): void => {
      closed = true
      if (opened != null && channels.get(to) === opened) channels.delete(to)
    }
    const opening = node.dialProtocol(peerIdFromString(to), SWIM_PROTOCOL, { signal, maxOutboundStreams: SWIM_MAX_STREAMS })
      .then(stream => openChannel(stream, MAX_SWIM_FRAME_BYTES, reason => { reject(to, 'membership reply', reason) }, onClosed))
    channels.set(to, opening)
    try {
      const channel = await opening
      opened = channel
      // Closed already (between the dial and now): not worth keeping.
      if (channels.get(to) === opening) {
        if (closed) channels.delete(to)
        else channels.set(to, channel)
      }
      return channel
    } catch (err) {
      if (channels.get(to) === opening) channels.delete(to)
      throw err
    }
  }
  const selfId = node.peerId.toString()

  const reject = (from: string, what: string, reason: string): void => {
    rejected++
    // Cut-short streams are normal while peers stop; bad data is worth a warning.
    const bad = reason.startsWith('malformed') || reason.startsWith('oversize')
    logger[bad ? 'warn' : 'debug']({ peer: from }, `${what} rejected: ${reason}`)
  }

  /** Writes one frame, then reads one frame back; the signal aborts both. */
  const exchange = async (to: string, protocol: string, frame: Uint8Array, maxBytes: number, signal: AbortSignal): Promise<Uint8Array> => {
    if (to === selfId) throw new Error('cannot message ourselves')
    const stream = await node.dialProtocol(peerIdFromString(to), protocol, { signal, maxOutboundStreams: SWIM_MAX_STREAMS })
    const onAbort = (): void => { stream.abort(signal.reason ?? new Error('aborted')) }
    signal.addEventListener('abort', onAbort, { once: true })
    try {
      await pipe([frame], source => lp.encode(source), stream.sink)
      return await pipe(stream.source, source => lp.decode(source, { maxDataLength: maxBytes }), async frames => await firstFrame(frames, 'the reply'))
    } finally {
      signal.removeEventListener('abort', onAbort)
      if (stream.status === 'open') await stream.close().catch(() => { stream.abort(new Error('close failed')) })
    }
  }

  /** Reads the one frame of an inbound view stream, bounded in time; throws if the stream ends first. */
  const readOne = async (stream: Stream, maxBytes: number): Promise<Uint8Array> => {
    const timer = setTimeout(() => { stream.abort(new Error('no request frame in time')) }, VIEW_EXCHANGE_TIMEOUT_MS)
    try {
      return await pipe(stream.source, source => lp.decode(source, { maxDataLength: maxBytes }), async frames => await firstFrame(frames, 'the request frame'))
    } finally {
      clearTimeout(timer)
    }
  }

  const onSwimStream = ({ stream, connection }: { stream: Stream, connection: { remotePeer: { toString: () => string } } }): void => {
    const from = connection.remotePeer.toString()
    serveChannel(stream, MAX_SWIM_FRAME_BYTES, async message => {
      if (handlers == null) throw new Error('membership not running')
      return await handlers.onRequest(from, message)
    }, reason => { reject(from, 'membership message', reason) }, logger).catch((err: any) => {
      logger.debug({ peer: from }, `membership stream ended: ${err?.message ?? err}`)
      stream.abort(err instanceof Error ? err : new Error(String(err)))
    })
  }

  const onViewStream = ({ stream, connection }: { stream: Stream, connection: { remotePeer: { toString: () => string } } }): void => {
    const from = connection.remotePeer.toString()
    void (async () => {
      const decoded = decodeView(await readOne(stream, MAX_VIEW_FRAME_BYTES))
      if (!decoded.ok) { reject(from, 'view', decoded.reason); stream.abort(new Error(decoded.reason)); return }
      if (decoded.value.skipped.length > 0) reject(from, `view: ${decoded.value.skipped.length} entries`, `malformed: ${decoded.value.skipped[0]}`)
      if (handlers == null) { stream.abort(new Error('membership not running')); return }
      const mine = await handlers.onViewExchange(from, decoded.value.entries)
      await pipe([encodeView(mine)], source => lp.encode(source), stream.sink)
    })().catch((err: any) => {
      logger.debug({ peer: from }, `view stream failed: ${err?.message ?? err}`)
      stream.abort(err instanceof Error ? err : new Error(String(err)))
    })
  }

  return {
    async start () {
      const limits = { maxInboundStreams: SWIM_MAX_STREAMS, maxOutboundStreams: SWIM_MAX_STREAMS }
      await node.handle(SWIM_PROTOCOL, onSwimStream as any, limits)
      await node.handle(VIEW_PROTOCOL, onViewStream as any, limits)
    },
    async stop () {
      handlers = undefined
      for (const channel of channels.values()) if (!(channel instanceof Promise)) channel.close()
      channels.clear()
      await node.unhandle(SWIM_PROTOCOL).catch(() => {})
      await node.unhandle(VIEW_PROTOCOL).catch(() => {})
    },
    handle (next) { handlers = next },
    async request (to: string, message: SwimRequest, signal: AbortSignal, onRoundTrip?: (ms: number) => void): Promise<SwimReply> {
      if (to === selfId) throw new Error('cannot message ourselves')
      const channel = await channelTo(to, signal)
      return await channel.request(message, signal, onRoundTrip)
    },
    async exchangeViews (to: string, entries: ViewEntry[], signal: AbortSignal): Promise<ViewEntry[]> {
      const decoded = decodeView(await exchange(to, VIEW_PROTOCOL, encodeView(entries), MAX_VIEW_FRAME_BYTES, signal))
      if (!decoded.ok) { reject(to, 'view', decoded.reason); throw new Error(`bad view: ${decoded.reason}`) }
      return decoded.value.entries
    },
    async connect (peer: string, signal: AbortSignal): Promise<void> {
      await node.dial(peerIdFromString(peer), { signal })
    },
    isConnected (peer: string): boolean {
      return hasOpenConnection(node, peer)
    },
    get rejected () { return rejected },
    get channels () { return channels.size }
  }
}
