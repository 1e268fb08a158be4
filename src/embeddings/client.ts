// The calling side of `/harombe/embed/1.0.0`: one request at a time on a pooled stream, as
// completions do (opening a stream costs a multistream-select and a peer-store write on both
// peers; reusing one costs nothing). The write side stays open after the request, so the serving
// peer can tell a caller that left: the signal aborting resets the stream. After a whole answer
// (vectors, or an error header) the stream goes back to the pool; after anything else it is reset.
import { randomUUID } from 'node:crypto'
import type { PeerId } from '@libp2p/interface'
import type { MeshNode } from '../mesh/node.js'
import { AbortedError, BadRequestError, TimeoutError, UnavailableError, errorFromCode, type CompletionError } from '../completion/errors.js'
import type { ServedBy } from '../protocol/frames.js'
import { poolsByNode, type PooledStream, type StreamPool } from '../protocol/stream-pool.js'
import { EMBED_PROTOCOL, MAX_EMBED_STREAMS, MAX_EMBED_VECTOR_BYTES, MAX_IDLE_EMBED_STREAMS_PER_PEER } from './constants.js'
import { decodeEmbedHeader, decodeEmbedVectors, encodeEmbedRequest } from './frames.js'
import type { EmbeddingRequest, EmbeddingResult } from './types.js'

export interface EmbedOverMeshOptions {
  signal: AbortSignal
  /** Bounds the whole attempt; a TimeoutError when it fires. */
  timeoutMs?: number
  id?: string
  onServedBy?: (servedBy: ServedBy) => void
  /** Default: the node's embedding stream pool (embedStreamPoolOf). */
  pool?: StreamPool
}

/** A pooled stream that failed before any answer: the serving peer had closed it; not the peer's failure. */
class StaleStreamError extends Error {
  static name = 'StaleStreamError'
  name = StaleStreamError.name
}

export async function embedOverMesh (node: MeshNode, peer: PeerId, request: EmbeddingRequest, options: EmbedOverMeshOptions): Promise<EmbeddingResult> {
  const timeout = options.timeoutMs != null ? AbortSignal.timeout(options.timeoutMs) : undefined
  const signal = timeout != null ? AbortSignal.any([options.signal, timeout]) : options.signal
  const whyAborted = (): CompletionError => options.signal.aborted
    ? new AbortedError(`caller aborted the embedding on ${peer.toString()}`)
    : new TimeoutError(`no embedding from ${peer.toString()} within ${options.timeoutMs ?? 0} ms`)
  if (signal.aborted) throw whyAborted()
  let frame: Uint8Array
  try {
    frame = encodeEmbedRequest({ id: options.id ?? randomUUID(), request })
  } catch (err: any) {
    throw new BadRequestError(err?.message ?? String(err))
  }
  const pool = options.pool ?? embedStreamPoolOf(node)

  const take = async (fresh: boolean): Promise<PooledStream> => {
    try {
      return fresh ? await pool.open(peer, signal) : await pool.acquire(peer, signal)
    } catch (err: any) {
      if (signal.aborted) throw whyAborted()
      throw new UnavailableError(`cannot open ${EMBED_PROTOCOL} to ${peer.toString()}: ${err?.message ?? err}`)
    }
  }

  const exchange = async (conn: PooledStream): Promise<EmbeddingResult> => {
    const onAbort = (): void => { conn.abort(new Error('caller aborted')) }
    signal.addEventListener('abort', onAbort, { once: true })
    let answered = false
    try {
      conn.write(frame)
      const first = await conn.read()
      if (first.done === true) throw new UnavailableError(`embedding stream from ${peer.toString()} ended without an answer`)
      answered = true
      const header = decodeEmbedHeader(first.value)
      if (!header.ok) throw new UnavailableError(`bad embedding answer from ${peer.toString()}: ${header.reason}`)
      if (header.value.type === 'error') {
        // A whole answer: the stream may carry the next request.
        conn.release()
        const err = errorFromCode(header.value.code, header.value.message)
        // The serving peer knows best whether another peer could succeed.
        Object.defineProperty(err, 'retryable', { value: header.value.retryable })
        if (header.value.unsupported === true) Object.defineProperty(err, 'unsupported', { value: true })
        throw err
      }
      const second = await conn.read()
      if (second.done === true) throw new UnavailableError(`embedding stream from ${peer.toString()} ended before its vectors`)
      const vectors = decodeEmbedVectors(header.value, second.value)
      if (!vectors.ok) throw new UnavailableError(`bad embedding vectors from ${peer.toString()}: ${vectors.reason}`)
      conn.release()
      if (header.value.served_by != null) options.onServedBy?.(header.value.served_by)
      return { model: header.value.model, embeddings: vectors.value, prompt_tokens: header.value.prompt_tokens }
    } catch (err: any) {
      // A no-op after release (an error answer); otherwise the serving peer must stop for us.
      conn.abort(err instanceof Error ? err : new Error(String(err)))
      if (signal.aborted) throw whyAborted()
      if (err?.code != null && typeof err.retryable === 'boolean') {
        if (conn.reused && !answered && err.code === 'unavailable') throw new StaleStreamError()
        throw err
      }
      if (conn.reused && !answered) throw new StaleStreamError()
      throw new UnavailableError(`embedding stream from ${peer.toString()} failed: ${err?.message ?? err}`)
    } finally {
      signal.removeEventListener('abort', onAbort)
    }
  }

  const conn = await take(false)
  try {
    return await exchange(conn)
  } catch (err) {
    if (!(err instanceof StaleStreamError)) throw err
    // A stale pooled stream is not a failure of the request: once more, on a new stream.
    return await exchange(await take(true))
  }
}

const embedPools = poolsByNode({ protocol: EMBED_PROTOCOL, maxFrameBytes: MAX_EMBED_VECTOR_BYTES, maxOutboundStreams: MAX_EMBED_STREAMS, maxIdlePerPeer: MAX_IDLE_EMBED_STREAMS_PER_PEER })

/** The pool of `node`'s embedding streams, created on first use and closed when the node stops. */
export const embedStreamPoolOf = embedPools.of
/** Idle embedding streams `node`'s pool holds (0 before its first remote embedding). */
export const embedPooledStreams = embedPools.size
/** Closes `node`'s idle embedding streams (before `node.stop()`, so peers see a clean close). */
export const closeEmbedStreamPool = embedPools.close
