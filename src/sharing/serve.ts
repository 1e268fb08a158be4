import { open } from 'node:fs/promises'
import * as lp from 'it-length-prefixed'
import type { IncomingStreamData, Stream } from '@libp2p/interface'
import type { MeshNode } from '../mesh/node.js'
import { silentLogger, type Logger } from '../log.js'
import type { CatalogueEntry, LocalCatalogue } from './catalogue.js'
import { CONTROL_TIMEOUT_MS, DATA_FRAME_BYTES, DEFAULT_MAX_UPLOADS, MODELS_PROTOCOL } from './constants.js'
import { chunkLength } from './hash-file.js'
import { createRatePacer, createUploadSlots, type UploadSlots } from './upload-limits.js'
import { decodeRequest, encodeFrame, type ModelsRequest, type ModelsResponse, type RefusalCode } from './wire.js'

/** A length-prefixed frame, as `it-length-prefixed` encodes it. */
type Frame = ReturnType<typeof lp.encode.single>

/** A request is one small JSON frame; anything bigger is not a request. */
const MAX_REQUEST_BYTES = 4 * 1024

export interface ModelsHandlerInit {
  catalogue: LocalCatalogue
  /** Upload rate over all uploads, bytes/s (`--share-rate`); absent = unlimited. */
  rateBytesPerSecond?: number
  /** Concurrent chunk uploads (default DEFAULT_MAX_UPLOADS). */
  maxUploads?: number
  /** Chunk bytes served, for metrics and tests (counted where they are sent). */
  onServed?: (event: { sha256: string, index: number, bytes: number, peer: string }) => void
  logger?: Logger
}

export interface ModelsHandler {
  readonly uploads: UploadSlots
  unregister: () => Promise<void>
}

/** Serves `/harombe/models/1.0.0`: catalogue, hash lists and chunks, each file found by its sha256 in `catalogue`. */
export async function registerModelsHandler (node: MeshNode, init: ModelsHandlerInit): Promise<ModelsHandler> {
  const log = init.logger ?? silentLogger()
  const uploads = createUploadSlots(init.maxUploads ?? DEFAULT_MAX_UPLOADS)
  const pacer = createRatePacer(init.rateBytesPerSecond)
  const streams = new Set<Stream>()

  const onStream = ({ stream, connection }: IncomingStreamData): void => {
    streams.add(stream)
    const peer = connection.remotePeer.toString()
    serve(stream, peer).catch(err => {
      log.debug({ err, peer }, 'models stream failed')
      stream.abort(err instanceof Error ? err : new Error(String(err)))
    }).finally(() => streams.delete(stream))
  }

  const serve = async (stream: Stream, peer: string): Promise<void> => {
    const signal = AbortSignal.timeout(CONTROL_TIMEOUT_MS)
    const frames = lp.decode(stream.source, { maxDataLength: MAX_REQUEST_BYTES })
    const first = await Promise.race([frames.next(), new Promise<never>((_resolve, reject) => {
      signal.addEventListener('abort', () => { reject(new Error(`no request within ${CONTROL_TIMEOUT_MS} ms`)) }, { once: true })
    })])
    if (first.done === true) { stream.abort(new Error('no request')); return }
    const decoded = decodeRequest(first.value.subarray())
    if (!decoded.ok) { await reply(stream, refusal('bad_request', decoded.reason)); return }
    const request = decoded.value
    if (request.type === 'catalogue') {
      const files = init.catalogue.entries().map(e => ({ name: e.name, size: e.size, sha256: e.sha256, kind: e.kind }))
      await reply(stream, { type: 'catalogue', files, hashing: init.catalogue.pending().length })
      return
    }
    const entry = init.catalogue.bySha256(request.sha256)
    if (entry == null) {
      log.debug({ peer, sha256: request.sha256 }, 'refused a request for a file this peer does not share')
      await reply(stream, refusal('not_shared', `this peer shares no file with sha256 ${request.sha256}`))
      return
    }
    if (request.type === 'hashes') {
      await reply(stream, { type: 'hashes', sha256: entry.sha256, size: entry.size, chunk_size: entry.chunkSize, chunks: entry.chunks })
      return
    }
    await serveChunk(stream, peer, entry, request)
  }

  const serveChunk = async (stream: Stream, peer: string, entry: CatalogueEntry, request: Extract<ModelsRequest, { type: 'chunk' }>): Promise<void> => {
    if (request.index >= entry.chunks.length) {
      await reply(stream, refusal('bad_request', `chunk ${request.index} is past the end (${entry.chunks.length} chunks)`))
      return
    }
    let release: () => void
    try {
      release = uploads.acquire()
    } catch (err: any) {
      await reply(stream, refusal('busy', err.message))
      return
    }
    try {
      // The bytes must be the ones that were hashed: a file rewritten since is not served from.
      if (!(await init.catalogue.unchanged(entry))) {
        init.catalogue.rescan().catch(() => {})
        await reply(stream, refusal('changed', `${entry.name} changed since it was hashed; ask again after the rescan`))
        return
      }
      const length = chunkLength(entry.size, entry.chunkSize, request.index)
      const controller = new AbortController()
      const file = await open(entry.path, 'r')
      try {
        const frames = async function * (): AsyncGenerator<Frame> {
          yield lp.encode.single(encodeFrame({ type: 'chunk', index: request.index, length }))
          let offset = 0
          while (offset < length) {
            const n = Math.min(DATA_FRAME_BYTES, length - offset)
            await pacer.take(n, controller.signal)
            const buf = Buffer.allocUnsafe(n)
            const { bytesRead } = await file.read(buf, 0, n, request.index * entry.chunkSize + offset)
            if (bytesRead !== n) throw new Error(`${entry.name} is shorter than its catalogue entry`)
            offset += n
            yield lp.encode.single(buf)
          }
        }
        try {
          await stream.sink(frames())
        } finally {
          controller.abort()
        }
        await stream.close().catch(() => {})
        init.onServed?.({ sha256: entry.sha256, index: request.index, bytes: length, peer })
      } finally {
        await file.close()
      }
    } finally {
      release()
    }
  }

  await node.handle(MODELS_PROTOCOL, onStream, {
    // Uploads are limited by `uploads`; the rest (catalogue, hash lists) are short exchanges.
    maxInboundStreams: (init.maxUploads ?? DEFAULT_MAX_UPLOADS) + 16,
    maxOutboundStreams: 64
  })

  return {
    uploads,
    async unregister () {
      await node.unhandle(MODELS_PROTOCOL).catch(() => {})
      for (const stream of streams) stream.abort(new Error('models service stopped'))
    }
  }
}

function refusal (code: RefusalCode, message: string): ModelsResponse {
  return { type: 'error', code, message: message.slice(0, 1_000) }
}

async function reply (stream: Stream, frame: ModelsResponse): Promise<void> {
  await stream.sink([lp.encode.single(encodeFrame(frame))])
  await stream.close().catch(() => {})
}
