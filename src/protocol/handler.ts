// The serving side of `/harombe/complete/1.0.0`: a request frame in, batched delta frames and one
// trailer out. The stream's life (pooled streams carrying one request after another, cancellation,
// idle timeout, unregister) is the serve loop's (serve-loop.ts), shared with embeddings.
import type { Load } from '../membership/types.js'
import type { PeerId } from '@libp2p/interface'
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
import { decodeRequestFrame, decodeResponseFrame, responseFrameText, type DeltaFrame, type RequestFrame, type ServedBy, type TrailerFrame } from './frames.js'
import { isResponseFrame } from './frame-checks.js'
import { encodeTextFrames, OversizeFrameError, BadFrameLengthError } from '../mesh/framing.js'
import { registerRequestServer, type ServeCall, type Served } from './serve-loop.js'

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

/** Serves `/harombe/complete/1.0.0` on `node`, running each request with `execute`; the stream's life is the serve loop's. */
export async function registerCompletionHandler (node: MeshNode, execute: CompletionExecutor, init: CompletionHandlerInit): Promise<CompletionHandler> {
  const log = init.logger ?? silentLogger()
  const serving: CompletionServing = { execute, servedBy: init.servedBy, load: init.load, log }
  return await registerRequestServer<RequestFrame>(node, {
    protocol: COMPLETE_PROTOCOL,
    label: 'completion',
    maxInboundStreams: init.maxInboundStreams,
    maxOutboundStreams: init.maxOutboundStreams ?? DEFAULT_MAX_OUTBOUND_STREAMS,
    maxRequestFrameBytes: MAX_REQUEST_FRAME_BYTES,
    requestTimeoutMs: init.requestTimeoutMs ?? REQUEST_READ_TIMEOUT_MS,
    idleTimeoutMs: init.idleTimeoutMs ?? STREAM_IDLE_TIMEOUT_MS,
    maxBufferedBytes: MAX_BUFFERED_RESPONSE_BYTES,
    // Retryable: another peer can serve it.
    shutdownError: () => new UnavailableError('the serving peer is shutting down'),
    decode: decodeRequestFrame,
    unreadable: (err: any, peerText) => {
      if (err?.name === OversizeFrameError.name || err?.name === BadFrameLengthError.name) {
        // Rejected from the length prefix alone: the oversize body is never buffered.
        log.debug({ peer: peerText }, 'rejected an oversize request frame')
        return new BadRequestError(`request frame over the ${MAX_REQUEST_FRAME_BYTES}-byte limit`)
      }
      log.debug({ err, peer: peerText }, 'completion stream failed before its request')
      return undefined
    },
    malformed: (reason, peerText) => {
      log.debug({ peer: peerText, reason }, 'rejected a malformed request frame')
      return new BadRequestError(`bad request frame: ${reason}`)
    },
    encodeError: err => encodeTextFrames(responseFrameText(errorTrailer(err))),
    serve: async (frame, call) => await serveCompletion(frame, call, serving),
    log
  })
}

/** What serving one completion needs from the registration. */
interface CompletionServing {
  execute: CompletionExecutor
  servedBy?: ServedBy
  load?: () => Load
  log: Logger
}

/** Runs one completion: its deltas streamed in batches, then the frames that end it (the last deltas and the trailer, in one chunk). */
async function serveCompletion ({ id, request }: RequestFrame, call: ServeCall, { execute, servedBy, load, log }: CompletionServing): Promise<Served> {
  const { signal, peer, peerText } = call
  /** Set once the trailer is decided: later deltas are dropped. */
  let finished = false

  // Deltas, batched: a frame every DELTA_BATCH_WINDOW_MS or every DELTA_BATCH_MAX_CHARS.
  let batch = ''
  let batchTokens = 0
  let batchTimer: NodeJS.Timeout | undefined
  const takeBatch = (): DeltaFrame | undefined => {
    batchTimer = undefined
    if (batch === '' || signal.aborted) return undefined
    // The count lets an entry peer that hands the answer over know the tokens already delivered.
    const frame: DeltaFrame = batchTokens === 1 ? { type: 'delta', content: batch } : { type: 'delta', content: batch, tokens: batchTokens }
    batch = ''
    batchTokens = 0
    return frame
  }
  const flush = (): void => {
    clearTimeout(batchTimer)
    const frame = takeBatch()
    if (frame != null) call.write(encodeTextFrames(responseFrameText(frame)))
  }
  const onDelta = (delta: CompletionDelta): void => {
    if (finished || signal.aborted || delta.content === '') return
    batch += delta.content
    batchTokens += delta.tokens ?? 1
    if (batch.length >= DELTA_BATCH_MAX_CHARS) flush()
    else batchTimer ??= setTimeout(flush, DELTA_BATCH_WINDOW_MS)
  }

  // Run it and end with exactly one trailer.
  const started = Date.now()
  let trailer: TrailerFrame
  try {
    const result = await execute(request, { signal, onDelta, id, peer })
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
    trailer = errorTrailer(toCompletionError(signal.aborted ? signal.reason : err))
  }
  // The last deltas go with the trailer: one write instead of two (each write is a yamux frame, a
  // noise message and a syscall). A pending batch timer is left to fire on an empty batch: clearing
  // it emptied the timer list after every fast answer, and recreating that list showed in the profile.
  const lastDeltas = takeBatch()
  finished = true

  if (!call.finish()) {
    log.debug({ peer: peerText, id, reason: String(signal.reason?.message ?? ''), ms: Date.now() - started }, 'completion cancelled by the caller')
    return { kind: 'reset', reason: new AbortedError('caller gone') }
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
  return { kind: 'answered', frames: lastDeltas != null ? encodeTextFrames(responseFrameText(lastDeltas), text) : encodeTextFrames(text) }
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
