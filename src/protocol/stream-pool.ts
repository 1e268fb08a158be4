import type { PeerId, Stream } from '@libp2p/interface'
import type { MeshNode } from '../mesh/node.js'
import {
  COMPLETE_PROTOCOL,
  DEFAULT_MAX_OUTBOUND_STREAMS,
  MAX_IDLE_STREAMS_PER_PEER,
  MAX_RESPONSE_FRAME_BYTES,
  POOL_IDLE_TIMEOUT_MS
} from './constants.js'
import { encodeFrames, FrameQueue, readFrames } from '../mesh/framing.js'

/** One frame's bytes, without its length prefix. */
type Frame = Uint8Array

// Opening a stream costs ~2–6 ms, reusing one ~0.2 ms (LIBP2P-NOTES): the caller keeps streams
// whose last request ended with a clean trailer and sends its next request to that peer on one of
// them. One request at a time per stream; nothing is multiplexed inside a stream.

export interface StreamPoolInit {
  /** Idle streams kept per peer (default MAX_IDLE_STREAMS_PER_PEER); extras are closed. */
  maxIdlePerPeer?: number
  /** An idle stream is closed after this long (default POOL_IDLE_TIMEOUT_MS). */
  idleTimeoutMs?: number
  /** The protocol its streams speak (default COMPLETE_PROTOCOL; the embedding client pools its own). */
  protocol?: string
  /** Largest frame read from a stream (default MAX_RESPONSE_FRAME_BYTES). */
  maxFrameBytes?: number
  /** Outbound streams of `protocol` per connection (default DEFAULT_MAX_OUTBOUND_STREAMS). */
  maxOutboundStreams?: number
}

/** An open completion stream lent to one request. */
export interface PooledStream {
  readonly stream: Stream
  /** Whether an earlier request used it: failing before any answer then means it was stale, not that the peer failed. */
  readonly reused: boolean
  /** Queues one frame (length-prefixed here) on the stream's one writer. */
  write: (frame: Uint8Array) => void
  /** The next frame from the stream's one reader; `done` when the peer closed its side. */
  read: () => Promise<IteratorResult<Frame>>
  /** After a clean trailer: back to the pool, or closed if the pool is full or closed. */
  release: () => void
  /** After anything else (abort, timeout, bad frame, doubt): reset now, never reused. */
  abort: (err: Error) => void
}

export interface StreamPool {
  /** An idle open stream to `peer` if there is one, else a new stream. */
  acquire: (peer: PeerId, signal: AbortSignal) => Promise<PooledStream>
  /** Always a new stream. */
  open: (peer: PeerId, signal: AbortSignal) => Promise<PooledStream>
  /** Idle streams held for `peer`. */
  idle: (peer: PeerId) => number
  /** Idle streams held for all peers: at most MAX_IDLE_STREAMS_PER_PEER per connected peer, each for POOL_IDLE_TIMEOUT_MS. */
  size: () => number
  /** Closes the idle streams; lent streams are closed when they come back. */
  close: () => void
}

interface Entry {
  key: string
  stream: Stream
  /** The one source given to `stream.sink` (which can be called only once). */
  outgoing: FrameQueue
  /** The one reader of `stream.source` (which can be iterated only once). */
  frames: AsyncGenerator<Frame>
  /** A read started while idle, to notice the peer closing; the next request continues it. */
  pending?: Promise<IteratorResult<Frame>>
  timer?: NodeJS.Timeout
  state: 'lent' | 'idle' | 'dead'
}

export function createStreamPool (node: MeshNode, init: StreamPoolInit = {}): StreamPool {
  const maxIdle = init.maxIdlePerPeer ?? MAX_IDLE_STREAMS_PER_PEER
  const idleTimeoutMs = init.idleTimeoutMs ?? POOL_IDLE_TIMEOUT_MS
  const protocol = init.protocol ?? COMPLETE_PROTOCOL
  const maxFrameBytes = init.maxFrameBytes ?? MAX_RESPONSE_FRAME_BYTES
  const maxOutboundStreams = init.maxOutboundStreams ?? DEFAULT_MAX_OUTBOUND_STREAMS
  /** Per peer, oldest first. */
  const idle = new Map<string, Entry[]>()
  let closed = false

  const unlist = (entry: Entry): void => {
    const list = idle.get(entry.key)
    const at = list?.indexOf(entry) ?? -1
    if (list == null || at < 0) return
    list.splice(at, 1)
    if (list.length === 0) idle.delete(entry.key)
  }

  /** Ends the stream: gracefully (the serving peer sees a close between requests) or with a reset. */
  const retire = (entry: Entry, err?: Error): void => {
    if (entry.state === 'dead') return
    entry.state = 'dead'
    clearTimeout(entry.timer)
    unlist(entry)
    entry.outgoing.end()
    if (err != null) entry.stream.abort(err)
    else entry.stream.close().catch(e => { entry.stream.abort(e instanceof Error ? e : new Error(String(e))) })
  }

  const usable = ({ stream }: Entry): boolean =>
    stream.status === 'open' && stream.writeStatus === 'writing' && stream.readStatus !== 'closing' && stream.readStatus !== 'closed'

  const park = (entry: Entry): void => {
    if (closed || !usable(entry)) {
      retire(entry)
      return
    }
    entry.state = 'idle'
    const read = entry.frames.next()
    entry.pending = read
    // Still idle when this settles: the peer closed (idle timeout, shutdown), reset, or sent a
    // frame nobody asked for. None of those streams may carry another request.
    // Checked before an Error is built: this read settles with the answer of every request the stream carries next.
    const isStale = (): boolean => entry.state === 'idle' && entry.pending === read
    read.then(
      next => { if (isStale()) retire(entry, next.done === true ? undefined : new Error('unexpected frame on an idle stream')) },
      err => { if (isStale()) retire(entry, err instanceof Error ? err : new Error(String(err))) }
    )
    entry.timer = setTimeout(() => { retire(entry) }, idleTimeoutMs)
    // An idle stream is no reason to keep the process alive.
    entry.timer.unref()
    const list = idle.get(entry.key) ?? []
    list.push(entry)
    idle.set(entry.key, list)
    // Idle streams count against both peers' stream limits: keep the newest few.
    while (list.length > maxIdle) retire(list[0] as Entry)
  }

  const lend = (entry: Entry, reused: boolean): PooledStream => {
    entry.state = 'lent'
    let returned = false
    return {
      stream: entry.stream,
      reused,
      write: frame => { entry.outgoing.push(encodeFrames(frame)) },
      read: async () => {
        const read = entry.pending ?? entry.frames.next()
        entry.pending = undefined
        return await read
      },
      release: () => {
        if (returned) return
        returned = true
        park(entry)
      },
      abort: err => {
        if (returned) return
        returned = true
        retire(entry, err)
      }
    }
  }

  const open = async (peer: PeerId, signal: AbortSignal): Promise<PooledStream> => {
    // negotiateFully: false sends the protocol proposal with the first request frame: one round trip less.
    const stream = await node.dialProtocol(peer, protocol, { signal, maxOutboundStreams, negotiateFully: false })
    const outgoing = new FrameQueue()
    // Write errors also end the source, so they surface (and are classified) on the read side.
    stream.sink(outgoing).catch(() => {})
    const frames = readFrames(stream.source, maxFrameBytes)
    return lend({ key: peer.toString(), stream, outgoing, frames, state: 'lent' }, false)
  }

  return {
    open,
    async acquire (peer, signal) {
      const list = idle.get(peer.toString())
      while (list != null && list.length > 0) {
        // The newest: the least likely to be near the serving peer's idle timeout.
        const entry = list.pop() as Entry
        if (list.length === 0) idle.delete(entry.key)
        clearTimeout(entry.timer)
        if (!usable(entry)) {
          retire(entry)
          continue
        }
        return lend(entry, true)
      }
      return await open(peer, signal)
    },
    idle: peer => idle.get(peer.toString())?.length ?? 0,
    size: () => {
      let n = 0
      for (const list of idle.values()) n += list.length
      return n
    },
    close () {
      closed = true
      for (const list of [...idle.values()]) for (const entry of [...list]) retire(entry)
    }
  }
}

/** One pool per node for one protocol: made on first use, closed (and forgotten) when the node stops. */
export interface PoolsByNode {
  of: (node: MeshNode) => StreamPool
  /** Idle streams `node`'s pool holds (0 before its first use). */
  size: (node: MeshNode) => number
  /** Closes `node`'s idle streams (call before `node.stop()`, so peers see a clean close). */
  close: (node: MeshNode) => void
}

export function poolsByNode (init: StreamPoolInit = {}): PoolsByNode {
  const pools = new WeakMap<MeshNode, StreamPool>()
  const close = (node: MeshNode): void => {
    const pool = pools.get(node)
    pools.delete(node)
    pool?.close()
  }
  return {
    of (node) {
      let pool = pools.get(node)
      if (pool == null) {
        pool = createStreamPool(node, init)
        pools.set(node, pool)
        // A stopped node's streams are gone; if it starts again it gets a new pool.
        node.addEventListener('stop', () => { close(node) }, { once: true })
      }
      return pool
    },
    size: node => pools.get(node)?.size() ?? 0,
    close
  }
}

const completionPools = poolsByNode()

/** The pool `completeOverMesh` uses for `node`, created on first use and closed when the node stops. */
export const streamPoolOf = completionPools.of
/** Idle completion streams `node`'s pool holds (0 before its first remote completion). */
export const pooledStreams = completionPools.size
/** Closes `node`'s idle completion streams (call before `node.stop()`, so peers see a clean close). */
export const closeStreamPool = completionPools.close
