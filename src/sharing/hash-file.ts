import { Worker } from 'node:worker_threads'

/** A file's sha256 and the sha256 of each fixed-size chunk, all lowercase hex. */
export interface FileHashes {
  sha256: string
  size: number
  chunkSize: number
  chunks: string[]
}

// Hashing runs in a worker thread: a 40 GB file takes minutes of CPU, and neither the start of the
// peer nor its event loop (inference, gossip, probes) may wait for it. The worker is inline source
// (plain JS), so it runs the same under tsx, from dist and from the packed package.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads')
const { createHash } = require('node:crypto')
const { createReadStream } = require('node:fs')
const { path, chunkSize } = workerData
const whole = createHash('sha256')
const chunks = []
let chunk = createHash('sha256')
let inChunk = 0
let size = 0
const stream = createReadStream(path, { highWaterMark: 1024 * 1024 })
stream.on('data', (data) => {
  whole.update(data)
  size += data.length
  let offset = 0
  while (offset < data.length) {
    const take = Math.min(chunkSize - inChunk, data.length - offset)
    chunk.update(data.subarray(offset, offset + take))
    inChunk += take
    offset += take
    if (inChunk === chunkSize) { chunks.push(chunk.digest('hex')); chunk = createHash('sha256'); inChunk = 0 }
  }
})
stream.on('error', (err) => { parentPort.postMessage({ error: String(err && err.message || err) }) })
stream.on('end', () => {
  if (inChunk > 0 || size === 0) chunks.push(chunk.digest('hex'))
  parentPort.postMessage({ sha256: whole.digest('hex'), size, chunks })
})
`

/** Hashes `path` off the main thread; the signal terminates the worker at once. */
export async function hashFile (path: string, chunkSize: number, signal: AbortSignal): Promise<FileHashes> {
  signal.throwIfAborted()
  const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { path, chunkSize } })
  // A background hash must not keep the process alive on its own.
  worker.unref()
  try {
    return await new Promise<FileHashes>((resolve, reject) => {
      const onAbort = (): void => { reject(signal.reason) }
      signal.addEventListener('abort', onAbort, { once: true })
      worker.once('message', (msg: { error?: string, sha256: string, size: number, chunks: string[] }) => {
        signal.removeEventListener('abort', onAbort)
        if (msg.error != null) reject(new Error(`cannot hash ${path}: ${msg.error}`))
        else resolve({ sha256: msg.sha256, size: msg.size, chunkSize, chunks: msg.chunks })
      })
      worker.once('error', err => { signal.removeEventListener('abort', onAbort); reject(err) })
      worker.once('exit', code => { signal.removeEventListener('abort', onAbort); reject(new Error(`hash worker exited (${code}) before it answered`)) })
    })
  } finally {
    await worker.terminate()
  }
}

/** Chunks of a file of `size` bytes (a 0-byte file is one empty chunk, so it still has a hash list). */
export function chunkCount (size: number, chunkSize: number): number {
  return Math.max(1, Math.ceil(size / chunkSize))
}

/** Length of chunk `index` of a file of `size` bytes. */
export function chunkLength (size: number, chunkSize: number, index: number): number {
  return Math.max(0, Math.min(chunkSize, size - index * chunkSize))
}
