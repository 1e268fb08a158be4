// The serving side of a protocol whose callers pool their streams (`/harombe/complete/1.0.0`,
// `/harombe/embed/1.0.0`): opening a stream costs a multistream-select and a peer-store write on
// both peers, so each stream carries requests one after another. Per stream: read a request frame
// (a new stream within the request-read timeout), run it while watching the caller (its close, a
// reset or another frame means it stopped waiting, and the request is aborted), write the answer
// or an error frame, then wait for the caller's next request until the caller closes the stream,
// it idles out or the handler is unregistered. What differs between protocols (the frames, what a
// request runs, the wording of refusals) comes in a `ServedProtocol`; the stream's life and the
// registration's bookkeeping live here once, so the two protocols cannot drift apart.
import type { IncomingStreamData, PeerId, Stream } from '@libp2p/interface'
import type { MeshNode } from '../mesh/node.js'
import { AbortedError, UnavailableError, type CompletionError } from '../completion/errors.js'
import { FrameQueue, readFrames } from '../mesh/framing.js'
import type { Logger } from '../log.js'
import type { Decoded } from '../util/json-frame.js'
import { awaitNextRequest, type NextRequest } from './next-request.js'

/** How one request ended on its stream: answered (the stream may carry the next), or reset. */
export type Served = { kind: 'answered', frames: Uint8Array } | { kind: 'reset', reason: Error }

/** What a protocol's `serve` gets for one request besides the request itself. */
export interface ServeCall {
  /** Aborted when the caller stops waiting (close, reset, another frame, a failed write), or at unregister({ abortInFlight }). */
  signal: AbortSignal
  /** The peer that asked. */
  peer: PeerId
  /** `peer` as text, made once per stream, for logs. */
  peerText: string
  /**
   * Queues part of the answer now (streamed deltas). Past `maxBufferedBytes` queued, the caller
   * is taken as no longer reading and the request is aborted: the sink only takes what the
   * muxer's window allows, so a caller that stops reading would otherwise make us buffer its
   * whole answer.
   */
  write: (frames: Uint8Array) => void
  /**
   * The answer is decided: from now on the caller's close or next frame is not a cancellation (a
   * frame is its next request). Returns false when the caller went away before: nobody will read
   * an answer. Called by the loop too once `serve` returns; calling it earlier closes the window
   * in which a late cancellation would hit a request that already has its answer.
   */
  finish: () => boolean
}

/** What one protocol brings to the loop. */
export interface ServedProtocol<Request> {
  protocol: string
  /** Names the protocol in log lines: `${label} stream ended`. */
  label: string
  maxInboundStreams: number
  maxOutboundStreams: number
  /** The request frame's limit: a longer one is rejected from its length prefix, never buffered. */
  maxRequestFrameBytes: number
  /** How long a new stream may take to deliver its request frame. */
  requestTimeoutMs: number
  /** How long a stream may wait for its next request before it is closed. */
  idleTimeoutMs: number
  /** Bytes queued for a caller past which it is taken as not reading; undefined for no bound. */
  maxBufferedBytes?: number
  /** Why requests in flight are aborted at unregister({ abortInFlight }). */
  shutdownError: () => Error
  decode: (frame: Uint8Array) => Decoded<Request>
  /**
   * A frame could not be read before a request (oversize, a broken length prefix, a reset): logs
   * it and returns the error to answer with, or undefined to reset the stream unanswered.
   */
  unreadable: (err: unknown, peerText: string) => CompletionError | undefined
  /** A frame that is not a request: logs it and returns the error to answer with (then the stream closes). */
  malformed: (reason: string, peerText: string) => CompletionError
  /** An error as the protocol's error frame(s), length-prefixed. */
  encodeError: (err: CompletionError) => Uint8Array
  /** Runs one request and says how it ends on the stream. */
  serve: (request: Request, call: ServeCall) => Promise<Served>
  log: Logger
}

/** One registration of a served protocol. */
export interface RequestServer {
  /** Requests being served right now (streams idle between requests are not counted). */
  readonly active: number
  /** Streams open on this handler: serving a request or idle between two (each idle one closes after idleTimeoutMs). */
  readonly streams: number
  /**
   * Stops accepting new streams and requests; streams idle between requests are closed (so a
   * caller's pooled stream cannot reach this executor after a new one is registered). Requests in
   * flight run to the end unless `abortInFlight`, which aborts them with `shutdownError`.
   */
  unregister: (options?: { abortInFlight?: boolean }) => Promise<void>
}

/** State of one registration that its streams share. */
interface Shared {
  /** One controller per request being served. */
  inFlight: Set<AbortController>
  /** Closes a stream that waits between requests. */
  idle: Set<() => void>
  /** False after unregister: no further request is read on any stream. */
  accepting: boolean
}

/** Serves `served.protocol` on `node` until unregistered. */
export async function registerRequestServer<Request> (node: MeshNode, served: ServedProtocol<Request>): Promise<RequestServer> {
  const shared: Shared = { inFlight: new Set(), idle: new Set(), accepting: true }

  const onStream = ({ stream, connection }: IncomingStreamData): void => {
    serveStream(stream, connection.remotePeer, served, shared).catch(err => {
      // serveStream handles its own failures; reaching here is a bug, not the caller's problem.
      served.log.error({ err, peer: connection.remotePeer.toString() }, `${served.label} stream failed unexpectedly`)
      stream.abort(err instanceof Error ? err : new Error(String(err)))
    })
  }

  await node.handle(served.protocol, onStream, {
    maxInboundStreams: served.maxInboundStreams,
    maxOutboundStreams: served.maxOutboundStreams
  })

  return {
    get active () { return shared.inFlight.size },
    get streams () { return shared.inFlight.size + shared.idle.size },
    async unregister (options = {}) {
      if (shared.accepting) {
        shared.accepting = false
        await node.unhandle(served.protocol).catch(err => { served.log.debug({ err }, 'unhandle failed (node stopped?)') })
        // Open streams would otherwise keep bringing requests: idle ones close now, busy ones after their answer.
        for (const close of shared.idle) close()
      }
      if (options.abortInFlight === true) {
        for (const controller of shared.inFlight) controller.abort(served.shutdownError())
      }
    }
  }
}

/** Serves requests on one stream, one after another, until the caller closes it, it idles out or it fails. */
async function serveStream<Request> (stream: Stream, peer: PeerId, served: ServedProtocol<Request>, shared: Shared): Promise<void> {
  const { log, label } = served
  const maxBufferedBytes = served.maxBufferedBytes ?? Infinity
  const peerText = peer.toString()
  const outgoing = new FrameQueue()
  /** The request being served, if any. */
  let current: AbortController | undefined
  /** Set once the caller can no longer hear us: no answer is written then, the stream is reset. */
  let callerGone = false
  // One sink for the stream's whole life: a stream's sink can be called only once.
  const writing = stream.sink(outgoing).catch(err => {
    callerGone = true
    current?.abort(new AbortedError(`writing to the caller failed: ${err?.message ?? err}`))
  })

  /** Lets the sink drain what is queued (an answer) and closes both directions. */
  const end = async (): Promise<void> => {
    outgoing.end()
    await writing
    await stream.close().catch(err => { stream.abort(err instanceof Error ? err : new Error(String(err))) })
  }
  const reset = (reason: Error): void => {
    outgoing.end()
    stream.abort(reason)
  }
  /** Answers with an error frame and ends the stream: the caller may not speak our protocol, or we are closing. */
  const refuse = async (err: CompletionError): Promise<void> => {
    outgoing.push(served.encodeError(err))
    await end()
  }

  // One reader for the stream's whole life (its source can be iterated only once). The read that
  // watches for cancellation during a request is the one that receives the next request.
  const frames = readFrames(stream.source, served.maxRequestFrameBytes)
  let pending: Promise<IteratorResult<Uint8Array>> | undefined

  for (let count = 0; ; count++) {
    // 1. The request: one size-limited frame. A new stream gets the read timeout; a stream between
    // requests the longer idle timeout (the caller's pool closes it sooner), or closes at unregister.
    const read = pending ?? frames.next()
    pending = undefined
    let next: NextRequest<Uint8Array>
    try {
      next = await awaitNextRequest(read, {
        timeoutMs: count === 0 ? served.requestTimeoutMs : served.idleTimeoutMs,
        ...(count > 0 ? { idle: shared.idle } : {})
      })
    } catch (err) {
      const answer = served.unreadable(err, peerText)
      if (answer != null) await refuse(answer)
      else reset(err instanceof Error ? err : new Error(String(err)))
      return
    }
    if (next === 'timeout' && count === 0) {
      // A new stream that sends nothing is dead or hostile.
      read.catch(() => {})
      reset(new Error(`no request frame within ${served.requestTimeoutMs} ms`))
      return
    }
    if (next === 'timeout' || next === 'closing' || next.done === true) {
      // Between requests, the caller closing (or us idling out) just ends the stream.
      read.catch(() => {})
      log.debug({ peer: peerText, served: count, why: next === 'timeout' ? 'idle' : next === 'closing' ? 'unregistered' : 'closed by the caller' }, `${label} stream ended`)
      await end()
      return
    }
    const decoded = served.decode(next.value)
    if (!decoded.ok) {
      // Answer, and read no further frame from a caller that may not speak our protocol.
      await refuse(served.malformed(decoded.reason, peerText))
      return
    }
    if (!shared.accepting) {
      // The frame won the race against unregister closing this idle stream: refuse it retryably.
      await refuse(new UnavailableError('the serving peer is shutting down'))
      return
    }

    // 2. Cancellation: the caller keeps its write side open until our answer, so its read side
    // ending (close) or throwing (reset, connection lost) means nobody waits for the answer. Once
    // the answer is decided, the same read becomes the wait for the next request.
    const controller = new AbortController()
    current = controller
    shared.inFlight.add(controller)
    let finished = false
    const cancel = (reason: string): void => {
      if (finished) return
      callerGone = true
      controller.abort(new AbortedError(reason))
    }
    const watch = frames.next()
    pending = watch
    watch.then(
      next => { cancel(next.done === true ? 'the caller closed the stream' : 'the caller sent a second frame') },
      (err: any) => { cancel(`the stream was reset (${err?.message ?? err})`) }
    )
    // A write that failed while the stream sat idle: nobody will read this answer.
    if (callerGone) controller.abort(new AbortedError('the caller is gone'))

    // 3. Run it.
    const call: ServeCall = {
      signal: controller.signal,
      peer,
      peerText,
      write: chunk => {
        outgoing.push(chunk)
        if (outgoing.queuedBytes > maxBufferedBytes) {
          callerGone = true
          controller.abort(new AbortedError(`the caller stopped reading (${outgoing.queuedBytes} bytes queued)`))
        }
      },
      finish: () => {
        finished = true
        return !callerGone
      }
    }
    let outcome: Served
    try {
      outcome = await served.serve(decoded.value, call)
    } finally {
      finished = true
      shared.inFlight.delete(controller)
      current = undefined
    }

    // 4. End the request on the stream.
    if (outcome.kind === 'reset') {
      reset(outcome.reason)
      return
    }
    outgoing.push(outcome.frames)
    if (outgoing.queuedBytes > maxBufferedBytes) {
      // As for a streamed part (call.write): a caller that stopped reading gets no more buffered for it.
      log.debug({ peer: peerText, queued: outgoing.queuedBytes }, 'the caller stopped reading')
      reset(new AbortedError(`the caller stopped reading (${outgoing.queuedBytes} bytes queued)`))
      return
    }
    if (!shared.accepting) {
      // Unregistered while this request ran: the stream is not idle, so nothing woke it; close it now.
      await end()
      return
    }
  }
}
