import { randomUUID } from 'node:crypto'
import * as lp from 'it-length-prefixed'
import { pushable } from 'it-pushable'
import type { PeerId, Stream } from '@libp2p/interface'
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
import { COMPLETE_PROTOCOL, DEFAULT_MAX_OUTBOUND_STREAMS, MAX_RESPONSE_FRAME_BYTES } from './constants.js'
import { decodeResponseFrame, encodeRequestFrame, resultOf, validateRequest, type ServedBy } from './frames.js'

export interface CompleteOverMeshOptions extends CompleteOptions {
  /** Bounds the whole attempt (dial, generation, trailer); a TimeoutError when it fires. */
  timeoutMs?: number
  /** Correlates the attempt in both peers' logs; random when omitted. */
  id?: string
  /** Called with the serving peer's self-description from the `done` trailer, just before resolving. */
  onServedBy?: (servedBy: ServedBy) => void
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
 * The request frame is written and the write side is kept open until the trailer arrives:
 * the serving peer treats our closing or resetting the stream as a cancellation and stops
 * generating at once. Every failure is a CompletionError carrying `afterFirstDelta`.
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
  const valid = validateRequest(request)
  if (!valid.ok) throw fail(new BadRequestError(valid.reason))
  let frame: Uint8Array
  try {
    frame = encodeRequestFrame({ id: options.id ?? randomUUID(), request })
  } catch (err: any) {
    throw fail(new BadRequestError(err?.message ?? String(err)))
  }

  let stream: Stream
  try {
    stream = await node.dialProtocol(peer, COMPLETE_PROTOCOL, { signal, maxOutboundStreams: DEFAULT_MAX_OUTBOUND_STREAMS })
  } catch (err: any) {
    if (signal.aborted) throw fail(whyAborted())
    throw fail(new UnavailableError(`cannot open ${COMPLETE_PROTOCOL} to ${peer.toString()}: ${err?.message ?? err}`))
  }

  // A reset (not a close) so the serving peer learns at once, even while its writes are queued.
  const onAbort = (): void => { stream.abort(new Error('caller aborted')) }
  signal.addEventListener('abort', onAbort, { once: true })
  if (signal.aborted) onAbort()

  const outgoing = pushable<ReturnType<typeof lp.encode.single>>()
  outgoing.push(lp.encode.single(frame))
  // Write errors also end the source, so they surface (and are classified) on the read side.
  stream.sink(outgoing).catch(() => {})

  try {
    for await (const chunk of lp.decode(stream.source, { maxDataLength: MAX_RESPONSE_FRAME_BYTES })) {
      const decoded = decodeResponseFrame(chunk.subarray())
      if (!decoded.ok) throw new UnavailableError(`bad response frame from ${peer.toString()}: ${decoded.reason}`)
      const response = decoded.value
      if (response.type === 'delta') {
        deltas++
        try {
          options.onDelta?.({ content: response.content })
        } catch (err) {
          // The caller's own callback failed (e.g. its HTTP client left): not the peer's fault.
          throw new CallbackError(err)
        }
        continue
      }
      // A trailer is in hand: close gracefully, without delaying the answer.
      outgoing.end()
      stream.close().catch(() => { stream.abort(new Error('close failed')) })
      if (response.type === 'error') {
        const err = errorFromCode(response.code, response.message)
        // The serving peer knows best whether another peer could succeed (e.g. an unknown code).
        Object.defineProperty(err, 'retryable', { value: response.retryable })
        throw new TrailerError(err)
      }
      try {
        if (response.served_by != null) options.onServedBy?.(response.served_by)
      } catch (err) {
        throw new CallbackError(err)
      }
      return resultOf(response)
    }
    // A peer killed mid-stream looks like a normal end of stream (LIBP2P-NOTES 6).
    throw new UnavailableError(`stream from ${peer.toString()} ended without a trailer after ${deltas} delta frame(s)`)
  } catch (err: any) {
    if (err instanceof TrailerError) throw fail(err.error)
    outgoing.end()
    // A reset: whatever the reason, the serving peer must stop generating for us.
    stream.abort(err instanceof Error ? err : new Error(String(err)))
    if (signal.aborted) throw fail(whyAborted())
    if (err instanceof CallbackError) throw fail(toCompletionError(err.cause))
    if (err instanceof CompletionError) throw fail(err)
    // Oversize frame, truncated frame, reset, connection lost: another peer may do better.
    throw fail(new UnavailableError(`stream from ${peer.toString()} failed: ${err?.message ?? err}`))
  } finally {
    signal.removeEventListener('abort', onAbort)
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
