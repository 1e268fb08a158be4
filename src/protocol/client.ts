import type { Load } from '../membership/types.js'
import { randomUUID } from 'node:crypto'
import type { PeerId } from '@libp2p/interface'
import type { MeshNode } from '../mesh/node.js'
import type { CompleteOptions, CompletionRequest, CompletionResult } from '../completion/types.js'
import {
  AbortedError,
  BadRequestError,
  CompletionError,
  TimeoutError,
  UnavailableError,
  errorFromCode,
  toCompletionError
} from '../completion/errors.js'
import { COMPLETE_PROTOCOL } from './constants.js'
import { markAnswering } from './answering.js'
import { decodeResponseFrame, encodeRequestFrame, resultOf, validateRequest, wireRequest, type ServedBy } from './frames.js'
import { streamPoolOf, type PooledStream, type StreamPool } from './stream-pool.js'

export interface CompleteOverMeshOptions extends CompleteOptions {
  /** Bounds the whole attempt (dial, generation, trailer); a TimeoutError when it fires. */
  timeoutMs?: number
  /** Correlates the attempt in both peers' logs; random when omitted. */
  id?: string
  /** Called with the serving peer's self-description from the `done` trailer, just before resolving. */
  onServedBy?: (servedBy: ServedBy) => void
  /** Called with the serving peer's load from the `done` trailer, just before resolving. */
  onLoad?: (load: Load) => void
  /** Where open streams are taken from and returned to; the node's own pool (`streamPoolOf`) when omitted. */
  pool?: StreamPool
}

/**
 * What `completeOverMesh` throws. `afterFirstDelta` tells failover whether the caller already
 * received text: only an attempt that failed before its first delta may be retried elsewhere.
 */
export type MeshCompletionError = CompletionError & { afterFirstDelta: boolean }

/** Whether an error thrown by `completeOverMesh` came after a delta was delivered to `onDelta`. */
export function afterFirstDelta (err: unknown): boolean {
  return (err as Partial<MeshCompletionError> | undefined)?.afterFirstDelta === true
}

/**
 * Runs one completion on `peer` over `/harombe/complete/1.0.0`.
 *
 * The request goes on an idle stream to `peer` from the pool, or a new one. The write side stays
 * open: the serving peer treats our closing or resetting the stream during a request as a
 * cancellation and stops generating at once. After a clean trailer the stream goes back to the
 * pool; after anything else it is reset. Every failure is a CompletionError carrying `afterFirstDelta`.
 */
export async function completeOverMesh (node: MeshNode, peer: PeerId, request: CompletionRequest, options: CompleteOverMeshOptions): Promise<CompletionResult> {
  const timeout = options.timeoutMs != null ? AbortSignal.timeout(options.timeoutMs) : undefined
  const signal = timeout != null ? AbortSignal.any([options.signal, timeout]) : options.signal
  let deltas = 0

  const fail = (err: CompletionError): MeshCompletionError => Object.assign(err, { afterFirstDelta: deltas > 0 })
  const whyAborted = (): CompletionError => {
    if (options.signal.aborted) {
      // A caller that passes AbortSignal.timeout() timed out rather than went away.
      return (options.signal.reason as Error | undefined)?.name === 'TimeoutError'
        ? new TimeoutError(`no answer from ${peer.toString()} before the caller's deadline`)
        : new AbortedError(`caller aborted the completion on ${peer.toString()}`)
    }
    return new TimeoutError(`no answer from ${peer.toString()} within ${options.timeoutMs ?? 0} ms`)
  }

  if (signal.aborted) throw fail(whyAborted())
  const wire = wireRequest(request)
  const valid = validateRequest(wire)
  if (!valid.ok) throw fail(new BadRequestError(valid.reason))
  let frame: Uint8Array
  try {
    frame = encodeRequestFrame({ id: options.id ?? randomUUID(), request: wire })
  } catch (err: any) {
    throw fail(new BadRequestError(err?.message ?? String(err)))
  }

  const pool = options.pool ?? streamPoolOf(node)
  const take = async (fresh: boolean): Promise<PooledStream> => {
    try {
      return fresh ? await pool.open(peer, signal) : await pool.acquire(peer, signal)
    } catch (err: any) {
      if (signal.aborted) throw fail(whyAborted())
      throw fail(new UnavailableError(`cannot open ${COMPLETE_PROTOCOL} to ${peer.toString()}: ${err?.message ?? err}`))
    }
  }

  /** One request on `conn`: on success or a trailer the stream goes back to the pool, otherwise it is reset. */
  const exchange = async (conn: PooledStream): Promise<CompletionResult> => {
    // A reset (not a close) so the serving peer learns at once, even while its writes are queued.
    const onAbort = (): void => { conn.abort(new Error('caller aborted')) }
    signal.addEventListener('abort', onAbort, { once: true })
    if (signal.aborted) onAbort()
    let frames = 0
    let answering: (() => void) | undefined
    try {
      // The write side stays open after the request: closing it would cancel the request.
      conn.write(frame)
      while (true) {
        const next = await conn.read()
        if (next.done === true) break
        frames++
        const decoded = decodeResponseFrame(next.value)
        if (!decoded.ok) throw new UnavailableError(`bad response frame from ${peer.toString()}: ${decoded.reason}`)
        const response = decoded.value
        if (response.type === 'delta') {
          deltas++
          answering ??= markAnswering(node, peer.toString())
          try {
            options.onDelta?.(response.tokens != null ? { content: response.content, tokens: response.tokens } : { content: response.content })
          } catch (err) {
            // The caller's own callback failed (e.g. its HTTP client left): not the peer's fault.
            throw new CallbackError(err)
          }
          continue
        }
        // A trailer is in hand: the stream is between requests again and may carry the next one.
        conn.release()
        if (response.type === 'error') {
          const err = errorFromCode(response.code, response.message)
          // The serving peer knows best whether another peer could succeed (e.g. an unknown code).
          Object.defineProperty(err, 'retryable', { value: response.retryable })
          throw new TrailerError(err)
        }
        try {
          if (response.served_by != null) options.onServedBy?.(response.served_by)
          if (response.load != null) options.onLoad?.(response.load)
        } catch (err) {
          throw new CallbackError(err)
        }
        return resultOf(response)
      }
      // A peer killed mid-stream looks like a normal end of stream (LIBP2P-NOTES 6).
      throw new UnavailableError(`stream from ${peer.toString()} ended without a trailer after ${deltas} delta frame(s)`)
    } catch (err: any) {
      if (err instanceof TrailerError) throw fail(err.error)
      // A reset: whatever the reason, the serving peer must stop generating for us (a no-op after release).
      conn.abort(err instanceof Error ? err : new Error(String(err)))
      if (signal.aborted) throw fail(whyAborted())
      // Not one byte of answer on a pooled stream: the peer closed or reset it while it sat idle.
      if (conn.reused && frames === 0) throw new StaleStreamError()
      if (err instanceof CallbackError) throw fail(toCompletionError(err.cause))
      if (err instanceof CompletionError) throw fail(err)
      // Oversize frame, truncated frame, reset, connection lost: another peer may do better.
      throw fail(new UnavailableError(`stream from ${peer.toString()} failed: ${err?.message ?? err}`))
    } finally {
      answering?.()
      signal.removeEventListener('abort', onAbort)
    }
  }

  try {
    return await exchange(await take(false))
  } catch (err) {
    if (!(err instanceof StaleStreamError)) throw err
    // A stale pooled stream is not a failure of the request: once more, on a new stream.
    return await exchange(await take(true))
  }
}

/** A pooled stream that turned out to be closed or reset by the peer before it answered anything. */
class StaleStreamError extends Error {
  constructor () {
    super('stale pooled stream')
  }
}

/** Carries the error a peer reported in its trailer past the stream-failure handling. */
class TrailerError extends Error {
  constructor (readonly error: CompletionError) {
    super(error.message)
  }
}

/** Marks an exception thrown by the caller's own callbacks, so it is not blamed on the peer. */
class CallbackError extends Error {
  constructor (readonly cause: unknown) {
    super('onDelta threw')
  }
}
