// The serving side of `/harombe/embed/1.0.0`: a request frame in, one header frame and (on
// success) one vectors frame out; then the stream waits for the caller's next request (the
// caller pools its streams, as completions do: opening one costs a multistream-select and a
// peer-store write on both peers, the largest mesh cost of a small batch), until the caller
// closes it, it idles out or the handler is unregistered. While a request runs, anything from
// the caller (its close, a reset, another frame) means it stopped waiting, and the embedding is
// aborted. A malformed frame is answered with a bad_request header, logged, and the stream
// closed; the peer keeps serving everyone else.
import { awaitNextRequest, type NextRequest } from '../protocol/next-request.js'
import type { IncomingStreamData, PeerId, Stream } from '@libp2p/interface'
import type { MeshNode } from '../mesh/node.js'
import { AbortedError, BadRequestError, InternalError, UnavailableError, toCompletionError, type CompletionError } from '../completion/errors.js'
import { encodeFrames, FrameQueue, readFrames } from '../mesh/framing.js'
import { silentLogger, type Logger } from '../log.js'
import type { ServedBy } from '../protocol/frames.js'
import { STREAM_IDLE_TIMEOUT_MS } from '../protocol/constants.js'
import { EMBED_PROTOCOL, EMBED_REQUEST_READ_TIMEOUT_MS, MAX_EMBED_REQUEST_BYTES, MAX_EMBED_STREAMS } from './constants.js'
import { isRefusal } from './errors.js'
import { decodeEmbedRequest, encodeEmbedAnswer, encodeEmbedHeader } from './frames.js'
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

/** What the streams of one registration share. */
interface Shared {
  inFlight: Set<AbortController>
  /** Wakes a stream that waits between requests, so it closes. */
  idle: Set<() => void>
  accepting: boolean
}

export async function registerEmbedHandler (node: MeshNode, execute: EmbedExecutor, init: EmbedHandlerInit = {}): Promise<EmbedHandler> {
  const log = init.logger ?? silentLogger()
  const shared: Shared = { inFlight: new Set(), idle: new Set(), accepting: true }
  const onStream = ({ stream, connection }: IncomingStreamData): void => {
    if (!shared.accepting) {
      stream.abort(new Error('not accepting embeddings'))
      return
    }
    serve(stream, connection.remotePeer, execute, init, log, shared).catch(err => {
      log.error({ err, peer: connection.remotePeer.toString() }, 'embedding stream failed unexpectedly')
      stream.abort(err instanceof Error ? err : new Error(String(err)))
    })
  }
  await node.handle(EMBED_PROTOCOL, onStream, { maxInboundStreams: init.maxInboundStreams ?? MAX_EMBED_STREAMS, maxOutboundStreams: MAX_EMBED_STREAMS })
  return {
    get streams () { return shared.inFlight.size + shared.idle.size },
    async unregister (options = {}) {
      if (shared.accepting) {
        shared.accepting = false
        await node.unhandle(EMBED_PROTOCOL).catch(err => { log.debug({ err }, 'unhandle failed (node stopped?)') })
        for (const close of shared.idle) close()
      }
      if (options.abortInFlight === true) for (const c of shared.inFlight) c.abort(new AbortedError('the serving peer is shutting down'))
    }
  }
}

async function serve (stream: Stream, peer: PeerId, execute: EmbedExecutor, init: EmbedHandlerInit, log: Logger, shared: Shared): Promise<void> {
  const peerText = peer.toString()
  const outgoing = new FrameQueue()
  let current: AbortController | undefined
  const writing = stream.sink(outgoing).catch(err => { current?.abort(new AbortedError(`writing to the caller failed: ${err?.message ?? err}`)) })
  const end = async (): Promise<void> => {
    outgoing.end()
    await writing
    await stream.close().catch(err => { stream.abort(err instanceof Error ? err : new Error(String(err))) })
  }
  const answerError = (err: CompletionError): void => {
    outgoing.push(encodeFrames(encodeEmbedHeader({ type: 'error', code: err.code, message: err.message, retryable: err.retryable, ...(isRefusal(err) ? { unsupported: true } : {}) })))
  }

  // One reader for the stream's life; the read that watches for cancellation during a request is
  // the one that receives the next request.
  const frames = readFrames(stream.source, MAX_EMBED_REQUEST_BYTES)
  let pending: Promise<IteratorResult<Uint8Array>> | undefined
  for (let served = 0; ; served++) {
    const read = pending ?? frames.next()
    pending = undefined
    let next: NextRequest<Uint8Array>
    try {
      next = await awaitNextRequest(read, {
        timeoutMs: served === 0 ? init.requestTimeoutMs ?? EMBED_REQUEST_READ_TIMEOUT_MS : init.idleTimeoutMs ?? STREAM_IDLE_TIMEOUT_MS,
        ...(served > 0 ? { idle: shared.idle } : {})
      })
    } catch (err: any) {
      // Oversize or broken length prefix: rejected before the body is buffered.
      log.debug({ peer: peerText, err: err?.message }, 'rejected an embedding request frame')
      answerError(new BadRequestError(`bad embedding request frame: ${err?.message ?? err}`))
      await end()
      return
    }
    if (next === 'timeout' && served === 0) {
      read.catch(() => {})
      outgoing.end()
      stream.abort(new Error('no embedding request in time'))
      return
    }
    if (next === 'timeout' || next === 'closing' || next.done === true) {
      // Between requests, the caller closing (or us idling out) just ends the stream.
      read.catch(() => {})
      await end()
      return
    }
    const decoded = decodeEmbedRequest(next.value)
    if (!decoded.ok) {
      // The caller may not speak our protocol: answer, and read nothing more from it.
      log.warn({ peer: peerText, reason: decoded.reason }, 'dropped a malformed embedding request frame')
      answerError(new BadRequestError(`bad embedding request frame: ${decoded.reason}`))
      await end()
      return
    }
    if (!shared.accepting) {
      // The frame won the race against unregister closing this idle stream: refuse it retryably.
      answerError(new UnavailableError('the serving peer is shutting down'))
      await end()
      return
    }

    const controller = new AbortController()
    current = controller
    let answered = false
    // Cancellation: anything from the caller now (its close, a reset, a second frame) means it stopped waiting.
    const watch = frames.next()
    watch.then(
      () => { if (!answered) controller.abort(new AbortedError('the caller closed the stream or sent another frame')) },
      (err: any) => { if (!answered) controller.abort(new AbortedError(`the stream was reset (${err?.message ?? err})`)) }
    )
    shared.inFlight.add(controller)
    const started = Date.now()
    const { id, request } = decoded.value
    try {
      const result = await execute(request, { signal: controller.signal, id, peer })
      if (controller.signal.aborted) throw controller.signal.reason
      answered = true
      let answer: Uint8Array
      try {
        answer = encodeEmbedAnswer(result, init.servedBy)
      } catch (err: any) {
        throw new InternalError(`the backend's vectors cannot be sent: ${err?.message ?? err}`)
      }
      log.debug({ peer: peerText, id, inputs: result.embeddings.length, ms: Date.now() - started }, 'embedding served')
      outgoing.push(answer)
    } catch (err) {
      const aborted = controller.signal.aborted
      answered = true
      const e = toCompletionError(aborted ? controller.signal.reason : err)
      if (aborted && e.code === 'aborted') {
        log.debug({ peer: peerText, id }, 'embedding cancelled by the caller')
        outgoing.end()
        stream.abort(e)
        return
      }
      log.debug({ peer: peerText, id, code: e.code }, e.message)
      answerError(e)
    } finally {
      shared.inFlight.delete(controller)
      current = undefined
    }
    // The watching read now waits for the next request.
    pending = watch
  }
}
