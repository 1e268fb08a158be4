// The calling side of `/harombe/embed/1.0.0`: one stream per request (no pool: an embedding batch
// costs far more than opening a stream, ~2 ms). The write side stays open until the answer, so
// the serving peer can tell a caller that left (the signal aborting resets the stream).
import { randomUUID } from 'node:crypto'
import type { PeerId } from '@libp2p/interface'
import type { MeshNode } from '../mesh/node.js'
import { AbortedError, BadRequestError, TimeoutError, UnavailableError, errorFromCode, type CompletionError } from '../completion/errors.js'
import { encodeFrames, FrameQueue, readFrames } from '../mesh/framing.js'
import type { ServedBy } from '../protocol/frames.js'
import { EMBED_PROTOCOL, MAX_EMBED_STREAMS, MAX_EMBED_VECTOR_BYTES } from './constants.js'
import { decodeEmbedHeader, decodeEmbedVectors, encodeEmbedRequest } from './frames.js'
import type { EmbeddingRequest, EmbeddingResult } from './types.js'

export interface EmbedOverMeshOptions {
  signal: AbortSignal
  /** Bounds the whole attempt; a TimeoutError when it fires. */
  timeoutMs?: number
  id?: string
  onServedBy?: (servedBy: ServedBy) => void
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

  let stream
  try {
    // Optimistic protocol selection (as the completion pool does): the request goes with the select, no extra round trip.
    stream = await node.dialProtocol(peer, EMBED_PROTOCOL, { signal, maxOutboundStreams: MAX_EMBED_STREAMS, negotiateFully: false })
  } catch (err: any) {
    if (signal.aborted) throw whyAborted()
    throw new UnavailableError(`cannot open ${EMBED_PROTOCOL} to ${peer.toString()}: ${err?.message ?? err}`)
  }
  const s = stream
  const outgoing = new FrameQueue()
  s.sink(outgoing).catch(() => {})
  const onAbort = (): void => { s.abort(new Error('caller aborted')) }
  signal.addEventListener('abort', onAbort, { once: true })
  try {
    outgoing.push(encodeFrames(frame))
    const frames = readFrames(s.source, MAX_EMBED_VECTOR_BYTES)
    const first = await frames.next()
    if (first.done === true) throw new UnavailableError(`embedding stream from ${peer.toString()} ended without an answer`)
    const header = decodeEmbedHeader(first.value)
    if (!header.ok) throw new UnavailableError(`bad embedding answer from ${peer.toString()}: ${header.reason}`)
    if (header.value.type === 'error') {
      const err = errorFromCode(header.value.code, header.value.message)
      // The serving peer knows best whether another peer could succeed.
      Object.defineProperty(err, 'retryable', { value: header.value.retryable })
      if (header.value.unsupported === true) Object.defineProperty(err, 'unsupported', { value: true })
      throw err
    }
    const second = await frames.next()
    if (second.done === true) throw new UnavailableError(`embedding stream from ${peer.toString()} ended before its vectors`)
    const vectors = decodeEmbedVectors(header.value, second.value)
    if (!vectors.ok) throw new UnavailableError(`bad embedding vectors from ${peer.toString()}: ${vectors.reason}`)
    outgoing.end()
    await s.close().catch(() => {})
    if (header.value.served_by != null) options.onServedBy?.(header.value.served_by)
    return { model: header.value.model, embeddings: vectors.value, prompt_tokens: header.value.prompt_tokens }
  } catch (err: any) {
    outgoing.end()
    s.abort(err instanceof Error ? err : new Error(String(err)))
    if (signal.aborted) throw whyAborted()
    if (err?.code != null && typeof err.retryable === 'boolean') throw err
    throw new UnavailableError(`embedding stream from ${peer.toString()} failed: ${err?.message ?? err}`)
  } finally {
    signal.removeEventListener('abort', onAbort)
  }
}
