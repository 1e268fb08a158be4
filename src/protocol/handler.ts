import { awaitNextRequest, type NextRequest } from './next-request.js'
import type { Load } from '../membership/types.js'
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
  MAX_RESPONSE_FRAME_BYTES,
  REQUEST_READ_TIMEOUT_MS,
  STREAM_IDLE_TIMEOUT_MS
} from './constants.js'
import { decodeRequestFrame, decodeResponseFrame, responseFrameText, type DeltaFrame, type RequestFrame, type ResponseFrame, type ServedBy, type TrailerFrame } from './frames.js'
import { isResponseFrame } from './frame-checks.js'
import { encodeTextFrames, FrameQueue, OversizeFrameError, BadFrameLengthError, readFrames } from '../mesh/framing.js'

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
  /** How long a stream may wait for its next request before it is closed (default STREAM_IDLE_TIMEOUT_MS). */
  idleTimeoutMs?: number
  /** Sent in every `done` trailer. */
  servedBy?: ServedBy
  /** This peer's load, sent in every `done` trailer: the caller routes on it without waiting for gossip. */
  load?: () => Load
  logger?: Logger
}

export interface CompletionHandler {
  /** Requests being served right now (streams idle between requests are not counted). */
  readonly active: number
  /** Streams open on this handler: serving a request or idle between two (each idle one closes after idleTimeoutMs). */
  readonly streams: number
  /**
   * Stops accepting new streams and requests; streams idle between requests are closed (so a
   * caller's pooled stream cannot reach this executor after a new one is registered). In-flight
   * completions run to the end unless `abortInFlight`, which stops them and tells each caller
   * `unavailable` (retryable: another peer can serve it).
   */
  unregister: (options?: { abortInFlight?: boolean }) => Promise<void>
}

/** Serves `/harombe/complete/1.0.0` on `node`, running each request with `execute`. */
export async function registerCompletionHandler (node: MeshNode, execute: CompletionExecutor, init: CompletionHandlerInit): Promise<CompletionHandler> {
  const log = init.logger ?? silentLogger()
  const shared: Shared = {
    inFlight: new Set(),
    idle: new Set(),
    accepting: true,
    requestTimeoutMs: init.requestTimeoutMs ?? REQUEST_READ_TIMEOUT_MS,
    idleTimeoutMs: init.idleTimeoutMs ?? STREAM_IDLE_TIMEOUT_MS
  }

  const onStream = ({ stream, connection }: IncomingStreamData): void => {
    serveStream({ stream, peer: connection.remotePeer, execute, servedBy: init.servedBy, load: init.load, log, shared })
      .catch(err => {
        // serveStream handles its own failures; reaching here is a bug, not the caller's problem.
        log.error({ err, peer: connection.remotePeer.toString() }, 'completion stream failed unexpectedly')
        stream.abort(err instanceof Error ? err : new Error(String(err)))
      })
  }

  await node.handle(COMPLETE_PROTOCOL, onStream, {
    maxInboundStreams: init.maxInboundStreams,
    maxOutboundStreams: init.maxOutboundStreams ?? DEFAULT_MAX_OUTBOUND_STREAMS
  })

  return {
    get active () { return shared.inFlight.size },
    get streams () { return shared.inFlight.size + shared.idle.size },
    async unregister (options = {}) {
      if (shared.accepting) {
        shared.accepting = false
        await node.unhandle(COMPLETE_PROTOCOL).catch(err => { log.debug({ err }, 'unhandle failed (node stopped?)') })
        // Open streams would otherwise keep bringing requests: idle ones close now, busy ones after their trailer.
        for (const close of shared.idle) close()
      }
      if (options.abortInFlight === true) {
        for (const controller of shared.inFlight) controller.abort(new UnavailableError('the serving peer is shutting down'))
      }
    }
  }
}

/** State of one handler registration that its streams share. */
interface Shared {
  /** One controller per request being executed. */
  inFlight: Set<AbortController>
  /** Closes a stream that waits between requests. */
  idle: Set<() => void>
  /** False after unregister: no further request is read on any stream. */
  accepting: boolean
  requestTimeoutMs: number
  idleTimeoutMs: number
}

interface ServeInit {
  stream: Stream
  peer: PeerId
  execute: CompletionExecutor
  servedBy?: ServedBy
  load?: () => Load
  log: Logger
  shared: Shared
}

/** One frame's bytes, without its length prefix. */
type Frame = Uint8Array

/** Serves requests on one stream, one after another, until the caller closes it, it idles out or it fails. */
async function serveStream ({ stream, peer, execute, servedBy, load, log, shared }: ServeInit): Promise<void> {
  const peerText = peer.toString()
  const outgoing = new FrameQueue()
  /** The request being executed, if any. */
  let current: AbortController | undefined
  /** Set once the caller can no longer hear us: no trailer is written then, the stream is reset. */
  let callerGone = false
  // One sink for the stream's whole life: a stream's sink can be called only once.
  const writing = stream.sink(outgoing).catch(err => {
    callerGone = true
    current?.abort(new AbortedError(`writing to the caller failed: ${err?.message ?? err}`))
  })
  const write = (frame: ResponseFrame): void => { outgoing.push(encodeTextFrames(responseFrameText(frame))) }

  /** Lets the sink drain what is queued (a trailer) and closes both directions. */
  const end = async (): Promise<void> => {
    outgoing.end()
    await writing
    await stream.close().catch(err => { stream.abort(err instanceof Error ? err : new Error(String(err))) })
  }

  // One reader for the stream's whole life (its source can be iterated only once). The read that
  // watches for cancellation during a request is the one that receives the next request.
  const frames = readFrames(stream.source, MAX_REQUEST_FRAME_BYTES)
  let pending: Promise<IteratorResult<Frame>> | undefined
  const nextFrame = async (): Promise<IteratorResult<Frame>> => {
    const read = pending ?? frames.next()
    pending = undefined
    return await read
  }

  for (let served = 0; ; served++) {
    // 1. The request: one size-limited frame. A new stream gets the read timeout; a stream between
    // requests the longer idle timeout (the caller's pool closes it sooner), or closes at unregister.
    const read = nextFrame()
    let next: NextRequest<Frame>
    try {
      next = await awaitNextRequest(read, {
        timeoutMs: served === 0 ? shared.requestTimeoutMs : shared.idleTimeoutMs,
        ...(served > 0 ? { idle: shared.idle } : {})
      })
    } catch (err: any) {
      if (err?.name === OversizeFrameError.name || err?.name === BadFrameLengthError.name) {
        // Rejected from the length prefix alone: the oversize body is never buffered.
        log.debug({ peer: peerText }, 'rejected an oversize request frame')
        write(errorTrailer(new BadRequestError(`request frame over the ${MAX_REQUEST_FRAME_BYTES}-byte limit`)))
        await end()
        return
      }
      log.debug({ err, peer: peerText }, 'completion stream failed before its request')
      outgoing.end()
      stream.abort(err instanceof Error ? err : new Error(String(err)))
      return
    }
    if (next === 'timeout' && served === 0) {
      // A new stream that sends nothing is dead or hostile.
      read.catch(() => {})
      outgoing.end()
      stream.abort(new Error(`no request frame within ${shared.requestTimeoutMs} ms`))
      return
    }
    if (next === 'timeout' || next === 'closing' || next.done === true) {
      // Between requests, the caller closing (or us idling out) just ends the stream.
      read.catch(() => {})
      log.debug({ peer: peerText, served, why: next === 'timeout' ? 'idle' : next === 'closing' ? 'unregistered' : 'closed by the caller' }, 'completion stream ended')
      await end()
      return
    }
    const decoded = decodeRequestFrame(next.value)
    if (!decoded.ok) {
      // The caller may not speak our protocol: answer, and do not read another frame from it.
      log.debug({ peer: peerText, reason: decoded.reason }, 'rejected a malformed request frame')
      write(errorTrailer(new BadRequestError(`bad request frame: ${decoded.reason}`)))
      await end()
      return
    }
    if (!shared.accepting) {
      // The frame won the race against unregister closing this idle stream: refuse it retryably.
      write(errorTrailer(new UnavailableError('the serving peer is shutting down')))
      await end()
      return
    }

    const controller = new AbortController()
    current = controller
    shared.inFlight.add(controller)
    let ending: Uint8Array | undefined
    try {
      ending = await serveRequest(decoded.value, controller)
    } finally {
      shared.inFlight.delete(controller)
      current = undefined
    }
    if (ending == null) {
      outgoing.end()
      stream.abort(new AbortedError('caller gone'))
      return
    }
    outgoing.push(ending)
    if (outgoing.queuedBytes > MAX_BUFFERED_RESPONSE_BYTES) {
      // As for a delta batch (serveRequest): a caller that stopped reading gets no more buffered for it.
      log.debug({ peer: peerText, queued: outgoing.queuedBytes }, 'the caller stopped reading')
      outgoing.end()
      stream.abort(new AbortedError(`the caller stopped reading (${outgoing.queuedBytes} bytes queued)`))
      return
    }
    if (!shared.accepting) {
      await end()
      return
    }
  }

  /**
   * Runs one request; the frames that end it (the last deltas and the trailer, in one chunk), or
   * undefined when the caller went away.
   */
  async function serveRequest ({ id, request }: RequestFrame, controller: AbortController): Promise<Uint8Array | undefined> {
    // 2. Cancellation: the caller keeps its write side open until our trailer, so its read side
    // ending (close) or throwing (reset, connection lost) means nobody waits for the answer. Once
    // the trailer is decided, the same read becomes the wait for the next request.
    let finished = false
    const watch = frames.next()
    pending = watch
    const cancel = (reason: string): void => {
      if (finished) return
      callerGone = true
      controller.abort(new AbortedError(reason))
    }
    watch.then(
      next => { cancel(next.done === true ? 'the caller closed the stream' : 'the caller sent a second frame') },
      (err: any) => { cancel(`the stream was reset (${err?.message ?? err})`) }
    )
    // A write that failed while the stream sat idle: nobody will read this answer.
    if (callerGone) controller.abort(new AbortedError('the caller is gone'))

    // 3. Deltas, batched: a frame every DELTA_BATCH_WINDOW_MS or every DELTA_BATCH_MAX_CHARS.
    let batch = ''
    let batchTokens = 0
    let batchTimer: NodeJS.Timeout | undefined
    const takeBatch = (): DeltaFrame | undefined => {
      batchTimer = undefined
      if (batch === '' || controller.signal.aborted) return undefined
      // The count lets an entry peer that hands the answer over know the tokens already delivered.
      const frame: DeltaFrame = batchTokens === 1 ? { type: 'delta', content: batch } : { type: 'delta', content: batch, tokens: batchTokens }
      batch = ''
      batchTokens = 0
      return frame
    }
    const flush = (): void => {
      clearTimeout(batchTimer)
      const frame = takeBatch()
      if (frame == null) return
      write(frame)
      if (outgoing.queuedBytes > MAX_BUFFERED_RESPONSE_BYTES) {
        // The sink only takes what the muxer's window allows; a caller that stops reading would
        // otherwise make us buffer its whole answer.
        callerGone = true
        controller.abort(new AbortedError(`the caller stopped reading (${outgoing.queuedBytes} bytes queued)`))
      }
    }
    const onDelta = (delta: CompletionDelta): void => {
      if (finished || controller.signal.aborted || delta.content === '') return
      batch += delta.content
      batchTokens += delta.tokens ?? 1
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
        ...(servedBy != null ? { served_by: servedBy } : {}),
        ...(load != null ? { load: load() } : {})
      }
    } catch (err) {
      // After an abort the executor's own error (often a bare AbortError) says less than why we aborted.
      trailer = errorTrailer(toCompletionError(controller.signal.aborted ? controller.signal.reason : err))
    }
    // The last deltas go with the trailer: one write instead of two (each write is a yamux frame, a
    // noise message and a syscall). A pending batch timer is left to fire on an empty batch: clearing
    // it emptied the timer list after every fast answer, and recreating that list showed in the profile.
    const lastDeltas = takeBatch()
    finished = true

    if (callerGone) {
      log.debug({ peer: peerText, id, reason: String(controller.signal.reason?.message ?? ''), ms: Date.now() - started }, 'completion cancelled by the caller')
      return undefined
    }
    let text = responseFrameText(trailer)
    if (trailer.type === 'done') {
      // Checked here with the caller's own rules: a backend bug then reads as `internal` with a
      // reason, instead of a retryable "bad response frame" that would send the request elsewhere.
      const problem = trailerProblem(trailer, text)
      if (problem != null) {
        trailer = errorTrailer(new InternalError(`the backend's result cannot be sent: ${problem}`))
        text = responseFrameText(trailer)
      }
    }
    log.debug({ peer: peerText, id, outcome: trailer.type === 'done' ? 'done' : trailer.code, ms: Date.now() - started }, 'completion served')
    return lastDeltas != null ? encodeTextFrames(responseFrameText(lastDeltas), text) : encodeTextFrames(text)
  }
}

/**
 * Why the caller's decoder would reject this `done` trailer, or undefined. A trailer the
 * hand-written check vouches for only needs its size checked; anything else is decoded as the
 * caller will decode it, for the same reason.
 */
function trailerProblem (trailer: TrailerFrame, text: string): string | undefined {
  if (isResponseFrame(trailer) && Buffer.byteLength(text, 'utf8') <= MAX_RESPONSE_FRAME_BYTES) return undefined
  const checked = decodeResponseFrame(Buffer.from(text, 'utf8'))
  return checked.ok ? undefined : checked.reason
}

function errorTrailer (err: { code: string, message: string, retryable: boolean }): TrailerFrame {
  return { type: 'error', code: err.code, message: err.message, retryable: err.retryable }
}
