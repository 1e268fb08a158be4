import * as lp from 'it-length-prefixed'
import { pushable } from 'it-pushable'
import type { IncomingStreamData, PeerId, Stream } from '@libp2p/interface'
import type { MeshNode } from '../mesh/node.js'
import type { CompletionDelta, CompletionRequest, CompletionResult } from '../completion/types.js'
import { AbortedError, BadRequestError, InternalError, UnavailableError, toCompletionError } from '../completion/errors.js'
import { silentLogger, type Logger } from '../log.js'
import {
  COMPLETE_PROTOCOL,
  DEFAULT_MAX_OUTBOUND_STREAMS,
  DELTA_BATCH_MAX_CHARS,
  DELTA_BATCH_WINDOW_MS,
  MAX_BUFFERED_RESPONSE_BYTES,
  MAX_REQUEST_FRAME_BYTES,
  REQUEST_READ_TIMEOUT_MS
} from './constants.js'
import { decodeRequestFrame, decodeResponseFrame, encodeResponseFrame, type ResponseFrame, type ServedBy, type TrailerFrame } from './frames.js'

export interface ExecuteContext {
  /** Aborted when the caller closes or resets the stream, or the handler is unregistered with abortInFlight. */
  signal: AbortSignal
  /** Streamed text; batched before it is written (LIBP2P-NOTES 8). Calls after the end are ignored. */
  onDelta: (delta: CompletionDelta) => void
  /** The caller's request id, for logs. */
  id: string
  /** The peer that asked. */
  peer: PeerId
}

/** Runs one completion locally (queueing, model choice, backend): the handler only does the wire. */
export type CompletionExecutor = (request: CompletionRequest, context: ExecuteContext) => Promise<CompletionResult>

export interface CompletionHandlerInit {
  /** Concurrent inbound completion streams per connection: the peer's capacity plus queue headroom (LIBP2P-NOTES 7). */
  maxInboundStreams: number
  /** Concurrent outbound completion streams per connection (default DEFAULT_MAX_OUTBOUND_STREAMS). */
  maxOutboundStreams?: number
  /** How long a new stream may take to deliver its request frame (default REQUEST_READ_TIMEOUT_MS). */
  requestTimeoutMs?: number
  /** Sent in every `done` trailer. */
  servedBy?: ServedBy
  logger?: Logger
}

export interface CompletionHandler {
  /** Streams being served right now. */
  readonly active: number
  /**
   * Stops accepting new streams. In-flight completions run to the end unless `abortInFlight`,
   * which stops them and tells each caller `unavailable` (retryable: another peer can serve it).
   */
  unregister: (options?: { abortInFlight?: boolean }) => Promise<void>
}

/** Serves `/harombe/complete/1.0.0` on `node`, running each request with `execute`. */
export async function registerCompletionHandler (node: MeshNode, execute: CompletionExecutor, init: CompletionHandlerInit): Promise<CompletionHandler> {
  const log = init.logger ?? silentLogger()
  const requestTimeoutMs = init.requestTimeoutMs ?? REQUEST_READ_TIMEOUT_MS
  const inFlight = new Set<AbortController>()
  let registered = true

  const onStream = ({ stream, connection }: IncomingStreamData): void => {
    const controller = new AbortController()
    inFlight.add(controller)
    serveStream({ stream, peer: connection.remotePeer, controller, execute, servedBy: init.servedBy, requestTimeoutMs, log })
      .catch(err => {
        // serveStream handles its own failures; reaching here is a bug, not the caller's problem.
        log.error({ err, peer: connection.remotePeer.toString() }, 'completion stream failed unexpectedly')
        stream.abort(err instanceof Error ? err : new Error(String(err)))
      })
      .finally(() => { inFlight.delete(controller) })
  }

  await node.handle(COMPLETE_PROTOCOL, onStream, {
    maxInboundStreams: init.maxInboundStreams,
    maxOutboundStreams: init.maxOutboundStreams ?? DEFAULT_MAX_OUTBOUND_STREAMS
  })

  return {
    get active () { return inFlight.size },
    async unregister (options = {}) {
      if (registered) {
        registered = false
        await node.unhandle(COMPLETE_PROTOCOL).catch(err => { log.debug({ err }, 'unhandle failed (node stopped?)') })
      }
      if (options.abortInFlight === true) {
        for (const controller of inFlight) controller.abort(new UnavailableError('the serving peer is shutting down'))
      }
    }
  }
}

interface ServeInit {
  stream: Stream
  peer: PeerId
  controller: AbortController
  execute: CompletionExecutor
  servedBy?: ServedBy
  requestTimeoutMs: number
  log: Logger
}

async function serveStream ({ stream, peer, controller, execute, servedBy, requestTimeoutMs, log }: ServeInit): Promise<void> {
  const peerText = peer.toString()
  const outgoing = pushable<ReturnType<typeof lp.encode.single>>()
  /** Set once the caller can no longer hear us: no trailer is written then, the stream is reset. */
  let callerGone = false
  const writing = stream.sink(outgoing).catch(err => {
    callerGone = true
    controller.abort(new AbortedError(`writing to the caller failed: ${err?.message ?? err}`))
  })
  const write = (frame: ResponseFrame): void => { outgoing.push(lp.encode.single(encodeResponseFrame(frame))) }

  /** Writes the one trailer, lets the sink drain it, and closes both directions. */
  const finish = async (trailer: TrailerFrame): Promise<void> => {
    write(trailer)
    outgoing.end()
    await writing
    await stream.close().catch(err => { stream.abort(err instanceof Error ? err : new Error(String(err))) })
  }

  // 1. The request: one size-limited frame, within the read timeout.
  const frames = lp.decode(stream.source, { maxDataLength: MAX_REQUEST_FRAME_BYTES })
  const readTimer = setTimeout(() => { stream.abort(new Error(`no request frame within ${requestTimeoutMs} ms`)) }, requestTimeoutMs)
  let first: IteratorResult<ReturnType<typeof lp.encode.single>>
  try {
    first = await frames.next()
  } catch (err: any) {
    clearTimeout(readTimer)
    if (err?.name === 'InvalidDataLengthError' || err?.name === 'InvalidDataLengthLengthError') {
      // Rejected from the length prefix alone: the oversize body is never buffered.
      log.debug({ peer: peerText }, 'rejected an oversize request frame')
      await finish(errorTrailer(new BadRequestError(`request frame over the ${MAX_REQUEST_FRAME_BYTES}-byte limit`)))
      return
    }
    log.debug({ err, peer: peerText }, 'completion stream failed before its request')
    stream.abort(err instanceof Error ? err : new Error(String(err)))
    return
  }
  clearTimeout(readTimer)
  if (first.done === true) {
    log.debug({ peer: peerText }, 'completion stream closed before its request')
    outgoing.end()
    await stream.close().catch(() => {})
    return
  }
  const decoded = decodeRequestFrame(first.value.subarray())
  if (!decoded.ok) {
    log.debug({ peer: peerText, reason: decoded.reason }, 'rejected a malformed request frame')
    await finish(errorTrailer(new BadRequestError(`bad request frame: ${decoded.reason}`)))
    return
  }
  const { id, request } = decoded.value

  // 2. Cancellation: the caller keeps its write side open until our trailer, so its read side
  // ending (close) or throwing (reset, connection lost) means nobody waits for the answer.
  let finished = false
  void (async () => {
    let reason: string
    try {
      const next = await frames.next()
      reason = next.done === true ? 'the caller closed the stream' : 'the caller sent a second frame'
    } catch (err: any) {
      reason = `the stream was reset (${err?.message ?? err})`
    }
    if (finished) return
    callerGone = true
    controller.abort(new AbortedError(reason))
  })()

  // 3. Deltas, batched: a frame every DELTA_BATCH_WINDOW_MS or every DELTA_BATCH_MAX_CHARS.
  let batch = ''
  let batchTimer: NodeJS.Timeout | undefined
  const flush = (): void => {
    clearTimeout(batchTimer)
    batchTimer = undefined
    if (batch === '' || controller.signal.aborted) return
    write({ type: 'delta', content: batch })
    batch = ''
    if (outgoing.readableLength > MAX_BUFFERED_RESPONSE_BYTES) {
      // The sink only takes what the muxer's window allows; a caller that stops reading would
      // otherwise make us buffer its whole answer.
      callerGone = true
      controller.abort(new AbortedError(`the caller stopped reading (${outgoing.readableLength} bytes queued)`))
    }
  }
  const onDelta = (delta: CompletionDelta): void => {
    if (finished || controller.signal.aborted || delta.content === '') return
    batch += delta.content
    if (batch.length >= DELTA_BATCH_MAX_CHARS) flush()
    else batchTimer ??= setTimeout(flush, DELTA_BATCH_WINDOW_MS)
  }

  // 4. Run it and end with exactly one trailer.
  const started = Date.now()
  let trailer: TrailerFrame
  try {
    const result = await execute(request, { signal: controller.signal, onDelta, id, peer })
    trailer = {
      type: 'done',
      message: result.message,
      finish_reason: result.finish_reason,
      model: result.model,
      usage: result.usage,
      ...(servedBy != null ? { served_by: servedBy } : {})
    }
  } catch (err) {
    // After an abort the executor's own error (often a bare AbortError) says less than why we aborted.
    trailer = errorTrailer(toCompletionError(controller.signal.aborted ? controller.signal.reason : err))
  }
  if (!controller.signal.aborted) flush()
  finished = true
  clearTimeout(batchTimer)

  if (callerGone) {
    log.debug({ peer: peerText, id, reason: String(controller.signal.reason?.message ?? ''), ms: Date.now() - started }, 'completion cancelled by the caller')
    outgoing.end()
    stream.abort(new AbortedError('caller gone'))
    return
  }
  if (trailer.type === 'done') {
    // Checked here with the caller's own decoder: a backend bug then reads as `internal` with a
    // reason, instead of a retryable "bad response frame" that would send the request elsewhere.
    const checked = decodeResponseFrame(encodeResponseFrame(trailer))
    if (!checked.ok) trailer = errorTrailer(new InternalError(`the backend's result cannot be sent: ${checked.reason}`))
  }
  log.debug({ peer: peerText, id, outcome: trailer.type === 'done' ? 'done' : trailer.code, ms: Date.now() - started }, 'completion served')
  await finish(trailer)
}

function errorTrailer (err: { code: string, message: string, retryable: boolean }): TrailerFrame {
  return { type: 'error', code: err.code, message: err.message, retryable: err.retryable }
}
