// The serving side of `/harombe/embed/1.0.0`: a request frame in, one header frame and (on
// success) one vectors frame out. The stream's life is the serve loop's (protocol/serve-loop.ts),
// shared with completions: the caller pools its streams, a stream waits for the next request
// until the caller closes it, it idles out or the handler is unregistered, and anything from the
// caller while a request runs (its close, a reset, another frame) aborts the embedding. A
// malformed frame is answered with a bad_request header, logged, and the stream closed; the peer
// keeps serving everyone else.
import type { PeerId } from '@libp2p/interface'
import type { MeshNode } from '../mesh/node.js'
import { AbortedError, BadRequestError, InternalError, toCompletionError, type CompletionError } from '../completion/errors.js'
import { encodeFrames } from '../mesh/framing.js'
import { silentLogger, type Logger } from '../log.js'
import type { ServedBy } from '../protocol/frames.js'
import { STREAM_IDLE_TIMEOUT_MS } from '../protocol/constants.js'
import { registerRequestServer, type ServeCall, type Served } from '../protocol/serve-loop.js'
import { EMBED_PROTOCOL, EMBED_REQUEST_READ_TIMEOUT_MS, MAX_EMBED_REQUEST_BYTES, MAX_EMBED_STREAMS } from './constants.js'
import { isRefusal } from './errors.js'
import { decodeEmbedRequest, encodeEmbedAnswer, encodeEmbedHeader, type EmbedRequestFrame } from './frames.js'
import type { EmbeddingRequest, EmbeddingResult } from './types.js'

export type EmbedExecutor = (request: EmbeddingRequest, context: { signal: AbortSignal, id: string, peer: PeerId }) => Promise<EmbeddingResult>

export interface EmbedHandlerInit {
  servedBy?: ServedBy
  /** How long a new stream may take to deliver its request (default EMBED_REQUEST_READ_TIMEOUT_MS). */
  requestTimeoutMs?: number
  /** How long a stream may wait for its next request (default STREAM_IDLE_TIMEOUT_MS, as completions). */
  idleTimeoutMs?: number
  maxInboundStreams?: number
  logger?: Logger
}

export interface EmbedHandler {
  /** Streams open now: serving a request or waiting for the next one. */
  readonly streams: number
  /** Stops taking streams and closes the idle ones; with abortInFlight, embeddings running now are aborted too. */
  unregister: (options?: { abortInFlight?: boolean }) => Promise<void>
}

export async function registerEmbedHandler (node: MeshNode, execute: EmbedExecutor, init: EmbedHandlerInit = {}): Promise<EmbedHandler> {
  const log = init.logger ?? silentLogger()
  const encodeError = (err: CompletionError): Uint8Array =>
    encodeFrames(encodeEmbedHeader({ type: 'error', code: err.code, message: err.message, retryable: err.retryable, ...(isRefusal(err) ? { unsupported: true } : {}) }))
  return await registerRequestServer<EmbedRequestFrame>(node, {
    protocol: EMBED_PROTOCOL,
    label: 'embedding',
    maxInboundStreams: init.maxInboundStreams ?? MAX_EMBED_STREAMS,
    maxOutboundStreams: MAX_EMBED_STREAMS,
    maxRequestFrameBytes: MAX_EMBED_REQUEST_BYTES,
    requestTimeoutMs: init.requestTimeoutMs ?? EMBED_REQUEST_READ_TIMEOUT_MS,
    idleTimeoutMs: init.idleTimeoutMs ?? STREAM_IDLE_TIMEOUT_MS,
    // No maxBufferedBytes: an answer is one header and one vectors frame (up to
    // MAX_EMBED_VECTOR_BYTES, over completions' bound), and nothing more is written for the caller
    // until its next request.
    // An aborted embedding resets the stream (serveEmbedding), which the caller reads as `unavailable`.
    shutdownError: () => new AbortedError('the serving peer is shutting down'),
    decode: decodeEmbedRequest,
    unreadable: (err: any, peerText) => {
      // Oversize or broken length prefix: rejected before the body is buffered.
      log.debug({ peer: peerText, err: err?.message }, 'rejected an embedding request frame')
      return new BadRequestError(`bad embedding request frame: ${err?.message ?? err}`)
    },
    malformed: (reason, peerText) => {
      log.warn({ peer: peerText, reason }, 'dropped a malformed embedding request frame')
      return new BadRequestError(`bad embedding request frame: ${reason}`)
    },
    encodeError,
    serve: async (frame, call) => await serveEmbedding(frame, call, { execute, servedBy: init.servedBy, encodeError, log }),
    log
  })
}

interface EmbedServing {
  execute: EmbedExecutor
  servedBy?: ServedBy
  encodeError: (err: CompletionError) => Uint8Array
  log: Logger
}

/** Runs one embedding: the answer (header and vectors), an error header, or a reset when the caller left. */
async function serveEmbedding ({ id, request }: EmbedRequestFrame, call: ServeCall, { execute, servedBy, encodeError, log }: EmbedServing): Promise<Served> {
  const { signal, peer, peerText } = call
  const started = Date.now()
  try {
    const result = await execute(request, { signal, id, peer })
    if (signal.aborted) throw signal.reason
    call.finish()
    let answer: Uint8Array
    try {
      answer = encodeEmbedAnswer(result, servedBy)
    } catch (err: any) {
      throw new InternalError(`the backend's vectors cannot be sent: ${err?.message ?? err}`)
    }
    log.debug({ peer: peerText, id, inputs: result.embeddings.length, ms: Date.now() - started }, 'embedding served')
    return { kind: 'answered', frames: answer }
  } catch (err) {
    const aborted = signal.aborted
    call.finish()
    const e = toCompletionError(aborted ? signal.reason : err)
    if (aborted && e.code === 'aborted') {
      // Nobody is listening (or we are shutting down): no header, the stream is reset.
      log.debug({ peer: peerText, id }, 'embedding cancelled by the caller')
      return { kind: 'reset', reason: e }
    }
    log.debug({ peer: peerText, id, code: e.code }, e.message)
    return { kind: 'answered', frames: encodeError(e) }
  }
}
