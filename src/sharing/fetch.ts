import { createHash } from 'node:crypto'
import * as lp from 'it-length-prefixed'
import type { PeerId } from '@libp2p/interface'
import type { MeshNode } from '../mesh/node.js'
import { CHUNK_TIMEOUT_MS, CONTROL_TIMEOUT_MS, MAX_CONTROL_FRAME_BYTES, MODELS_PROTOCOL } from './constants.js'
import { BadFrameError, BusyError, NotSharedError, SourceFailedError } from './errors.js'
import { decodeResponse, encodeFrame, type CatalogueFile, type ModelsRequest, type ModelsResponse } from './wire.js'

// The puller's side of `/harombe/models/1.0.0`: one request per stream, every exchange bounded in time.

export interface FetchOptions {
  signal: AbortSignal
  /** Bound on this exchange (defaults: CONTROL_TIMEOUT_MS, CHUNK_TIMEOUT_MS for a chunk). */
  timeoutMs?: number
}

export interface ChunkHashList {
  sha256: string
  size: number
  chunkSize: number
  chunks: string[]
}

export async function fetchCatalogue (node: MeshNode, peer: PeerId, options: FetchOptions): Promise<{ files: CatalogueFile[], hashing: number }> {
  const response = await exchange(node, peer, { type: 'catalogue' }, options, CONTROL_TIMEOUT_MS, async (head) => head)
  if (response.type !== 'catalogue') throw new BadFrameError(`expected a catalogue from ${peer.toString()}, got ${response.type}`)
  return { files: response.files, hashing: response.hashing ?? 0 }
}

export async function fetchChunkHashes (node: MeshNode, peer: PeerId, sha256: string, options: FetchOptions): Promise<ChunkHashList> {
  const response = await exchange(node, peer, { type: 'hashes', sha256 }, options, CONTROL_TIMEOUT_MS, async (head) => head)
  if (response.type !== 'hashes' || response.sha256 !== sha256) throw new BadFrameError(`expected the hash list of ${sha256} from ${peer.toString()}`)
  return { sha256, size: response.size, chunkSize: response.chunk_size, chunks: response.chunks }
}

/** A chunk as received, with the sha256 of its bytes (the caller compares it with the hash list). */
export interface ReceivedChunk {
  data: Buffer
  sha256: string
}

/**
 * Chunk `index` of the file `sha256`: exactly `expectedLength` bytes. The hash is computed frame by
 * frame as the bytes arrive, so verifying 8 MiB never blocks the event loop in one piece.
 */
export async function fetchChunk (node: MeshNode, peer: PeerId, sha256: string, index: number, expectedLength: number, options: FetchOptions): Promise<ReceivedChunk> {
  return await exchange(node, peer, { type: 'chunk', sha256, index }, options, CHUNK_TIMEOUT_MS, async (head, frames) => {
    if (head.type !== 'chunk' || head.index !== index) throw new BadFrameError(`expected chunk ${index} from ${peer.toString()}, got ${head.type}`)
    if (head.length !== expectedLength) throw new BadFrameError(`chunk ${index} from ${peer.toString()} is ${head.length} bytes, expected ${expectedLength}`)
    const out = Buffer.allocUnsafe(expectedLength)
    const hash = createHash('sha256')
    let filled = 0
    while (filled < expectedLength) {
      const next = await frames.next()
      if (next.done === true) throw new SourceFailedError(`chunk ${index} from ${peer.toString()} ended after ${filled} of ${expectedLength} bytes`)
      const data = next.value
      if (filled + data.byteLength > expectedLength) throw new BadFrameError(`chunk ${index} from ${peer.toString()} is longer than announced`)
      // Segment by segment: no intermediate copy of the frame.
      for (const segment of data) {
        out.set(segment, filled)
        hash.update(segment)
        filled += segment.byteLength
      }
    }
    return { data: out, sha256: hash.digest('hex') }
  })
}

type Frames = AsyncGenerator<ReturnType<typeof lp.encode.single>>

/** Sends `request` on a new stream, reads the head frame (refusals become errors) and lets `body` read the rest. */
async function exchange<T> (node: MeshNode, peer: PeerId, request: ModelsRequest, options: FetchOptions, defaultTimeoutMs: number,
  body: (head: ModelsResponse, frames: Frames) => Promise<T>): Promise<T> {
  const signal = AbortSignal.any([options.signal, AbortSignal.timeout(options.timeoutMs ?? defaultTimeoutMs)])
  const stream = await node.dialProtocol(peer, MODELS_PROTOCOL, { signal }).catch((err: any) => {
    throw signal.aborted && options.signal.aborted ? options.signal.reason : new SourceFailedError(`cannot open ${MODELS_PROTOCOL} to ${peer.toString()}: ${err?.message ?? err}`)
  })
  const onAbort = (): void => { stream.abort(new Error('aborted')) }
  signal.addEventListener('abort', onAbort, { once: true })
  try {
    // The request is the whole of our side: the write side closes after it.
    stream.sink([lp.encode.single(encodeFrame(request))]).catch(() => {})
    const frames: Frames = lp.decode(stream.source, { maxDataLength: MAX_CONTROL_FRAME_BYTES })
    const first = await frames.next()
    if (first.done === true) throw new SourceFailedError(`${peer.toString()} closed the stream without an answer`)
    const decoded = decodeResponse(first.value.subarray())
    if (!decoded.ok) throw new BadFrameError(`bad answer from ${peer.toString()}: ${decoded.reason}`)
    const head = decoded.value
    if (head.type === 'error') {
      if (head.code === 'not_shared') throw new NotSharedError(`${peer.toString()}: ${head.message}`)
      if (head.code === 'busy') throw new BusyError(`${peer.toString()}: ${head.message}`)
      throw new SourceFailedError(`${peer.toString()} refused (${head.code}): ${head.message}`)
    }
    const result = await body(head, frames)
    await stream.close().catch(() => {})
    return result
  } catch (err: any) {
    stream.abort(err instanceof Error ? err : new Error(String(err)))
    if (options.signal.aborted) throw options.signal.reason
    if (signal.aborted) throw new SourceFailedError(`${request.type} exchange with ${peer.toString()} timed out`)
    if (err?.name === 'NotSharedError' || err?.name === 'BusyError' || err?.name === 'BadFrameError' || err?.name === 'SourceFailedError') throw err
    throw new SourceFailedError(`${request.type} exchange with ${peer.toString()} failed: ${err?.message ?? err}`)
  } finally {
    signal.removeEventListener('abort', onAbort)
  }
}
