// The serving side of `/harombe/embed/1.0.0`: one request frame in, one header frame and (on
// success) one vectors frame out, then the stream closes. The caller keeps its write side open
// until the answer: its side ending or resetting before that means nobody waits, and the
// embedding is aborted. A malformed frame is answered with a bad_request header, logged, and the
// stream closed; the peer keeps serving everyone else.
import type { IncomingStreamData, PeerId, Stream } from '@libp2p/interface'
import type { MeshNode } from '../mesh/node.js'
import { AbortedError, BadRequestError, InternalError, toCompletionError, type CompletionError } from '../completion/errors.js'
import { encodeFrames, FrameQueue, readFrames } from '../mesh/framing.js'
import { silentLogger, type Logger } from '../log.js'
import type { ServedBy } from '../protocol/frames.js'
import { EMBED_PROTOCOL, EMBED_REQUEST_READ_TIMEOUT_MS, MAX_EMBED_REQUEST_BYTES, MAX_EMBED_STREAMS } from './constants.js'
import { isRefusal } from './errors.js'
import { decodeEmbedRequest, encodeEmbedHeader, encodeEmbedResult } from './frames.js'
import type { EmbeddingRequest, EmbeddingResult } from './types.js'

export type EmbedExecutor = (request: EmbeddingRequest, context: { signal: AbortSignal, id: string, peer: PeerId }) => Promise<EmbeddingResult>

export interface EmbedHandlerInit {
  servedBy?: ServedBy
  /** How long a new stream may take to deliver its request (default EMBED_REQUEST_READ_TIMEOUT_MS). */
  requestTimeoutMs?: number
  maxInboundStreams?: number
  logger?: Logger
}

export interface EmbedHandler {
  /** Stops taking streams; with abortInFlight, embeddings running now are aborted too. */
  unregister: (options?: { abortInFlight?: boolean }) => Promise<void>
}

export async function registerEmbedHandler (node: MeshNode, execute: EmbedExecutor, init: EmbedHandlerInit = {}): Promise<EmbedHandler> {
  const log = init.logger ?? silentLogger()
  const inFlight = new Set<AbortController>()
  let accepting = true
  const onStream = ({ stream, connection }: IncomingStreamData): void => {
    if (!accepting) {
      stream.abort(new Error('not accepting embeddings'))
      return
    }
    serve(stream, connection.remotePeer, execute, init, log, inFlight).catch(err => {
      log.error({ err, peer: connection.remotePeer.toString() }, 'embedding stream failed unexpectedly')
      stream.abort(err instanceof Error ? err : new Error(String(err)))
    })
  }
  await node.handle(EMBED_PROTOCOL, onStream, { maxInboundStreams: init.maxInboundStreams ?? MAX_EMBED_STREAMS, maxOutboundStreams: MAX_EMBED_STREAMS })
  return {
    async unregister (options = {}) {
      if (accepting) {
        accepting = false
        await node.unhandle(EMBED_PROTOCOL).catch(err => { log.debug({ err }, 'unhandle failed (node stopped?)') })
      }
      if (options.abortInFlight === true) for (const c of inFlight) c.abort(new AbortedError('the serving peer is shutting down'))
    }
  }
}

async function serve (stream: Stream, peer: PeerId, execute: EmbedExecutor, init: EmbedHandlerInit, log: Logger, inFlight: Set<AbortController>): Promise<void> {
  const peerText = peer.toString()
  const outgoing = new FrameQueue()
  const controller = new AbortController()
  const writing = stream.sink(outgoing).catch(err => { controller.abort(new AbortedError(`writing to the caller failed: ${err?.message ?? err}`)) })
  const end = async (...frames: Uint8Array[]): Promise<void> => {
    outgoing.push(encodeFrames(...frames))
    outgoing.end()
    await writing
    await stream.close().catch(err => { stream.abort(err instanceof Error ? err : new Error(String(err))) })
  }
  const fail = async (err: CompletionError): Promise<void> => {
    await end(encodeEmbedHeader({ type: 'error', code: err.code, message: err.message, retryable: err.retryable, ...(isRefusal(err) ? { unsupported: true } : {}) }))
  }

  const frames = readFrames(stream.source, MAX_EMBED_REQUEST_BYTES)
  let timer: NodeJS.Timeout | undefined
  let first: IteratorResult<Uint8Array> | 'timeout'
  try {
    first = await Promise.race([
      frames.next(),
      new Promise<'timeout'>(resolve => { timer = setTimeout(() => { resolve('timeout') }, init.requestTimeoutMs ?? EMBED_REQUEST_READ_TIMEOUT_MS) })
    ])
  } catch (err: any) {
    // Oversize or broken length prefix: rejected before the body is buffered.
    log.debug({ peer: peerText, err: err?.message }, 'rejected an embedding request frame')
    await fail(new BadRequestError(`bad embedding request frame: ${err?.message ?? err}`))
    return
  } finally {
    clearTimeout(timer)
  }
  if (first === 'timeout' || first.done === true) {
    outgoing.end()
    stream.abort(new Error(first === 'timeout' ? 'no embedding request in time' : 'closed before its request'))
    return
  }
  const decoded = decodeEmbedRequest(first.value)
  if (!decoded.ok) {
    log.warn({ peer: peerText, reason: decoded.reason }, 'dropped a malformed embedding request frame')
    await fail(new BadRequestError(`bad embedding request frame: ${decoded.reason}`))
    return
  }

  // Cancellation: anything from the caller now (its close, a reset, a second frame) means it stopped waiting.
  let answered = false
  frames.next().then(
    () => { if (!answered) controller.abort(new AbortedError('the caller closed the stream')) },
    (err: any) => { if (!answered) controller.abort(new AbortedError(`the stream was reset (${err?.message ?? err})`)) }
  )
  inFlight.add(controller)
  const started = Date.now()
  const { id, request } = decoded.value
  try {
    const result = await execute(request, { signal: controller.signal, id, peer })
    answered = true
    if (controller.signal.aborted) throw controller.signal.reason
    let encoded: { header: Uint8Array, vectors: Uint8Array }
    try {
      encoded = encodeEmbedResult(result, init.servedBy)
    } catch (err: any) {
      throw new InternalError(`the backend's vectors cannot be sent: ${err?.message ?? err}`)
    }
    log.debug({ peer: peerText, id, inputs: result.embeddings.length, ms: Date.now() - started }, 'embedding served')
    await end(encoded.header, encoded.vectors)
  } catch (err) {
    answered = true
    const e = toCompletionError(controller.signal.aborted ? controller.signal.reason : err)
    if (controller.signal.aborted && e.code === 'aborted') {
      log.debug({ peer: peerText, id }, 'embedding cancelled by the caller')
      outgoing.end()
      stream.abort(e)
      return
    }
    log.debug({ peer: peerText, id, code: e.code }, e.message)
    await fail(e)
  } finally {
    inFlight.delete(controller)
  }
}
