// Length-prefixed framing of our long-lived streams (`/harombe/complete/1.0.0`,
// `/harombe/swim/1.0.0`), as `it-length-prefixed` writes and reads it (an unsigned varint length,
// then that many bytes), without its general-purpose layers: the
// routed-path profile charged a few percent of each peer's CPU to them and their byte lists.
// Frames written together travel as one chunk: each chunk given to a stream becomes its own yamux
// frame, noise message and socket write.

/** A length prefix longer than this is not a length (it-length-prefixed's bound too). */
const MAX_LENGTH_BYTES = 8

/** A frame announced longer than the reader's limit: rejected from its prefix, before its body is buffered. */
export class OversizeFrameError extends Error {
  static name = 'OversizeFrameError'
  name = OversizeFrameError.name
}

/** A length prefix that does not end within MAX_LENGTH_BYTES. */
export class BadFrameLengthError extends Error {
  static name = 'BadFrameLengthError'
  name = BadFrameLengthError.name
}

/** The stream ended part-way through a frame. */
export class TruncatedFrameError extends Error {
  static name = 'TruncatedFrameError'
  name = TruncatedFrameError.name
}

/** Bytes of the unsigned varint that encodes `n`. */
function varintLength (n: number): number {
  let bytes = 1
  while (n >= 0x80) {
    n = Math.floor(n / 0x80)
    bytes++
  }
  return bytes
}

function writeVarint (n: number, into: Uint8Array, at: number): number {
  while (n >= 0x80) {
    into[at++] = (n % 0x80) | 0x80
    n = Math.floor(n / 0x80)
  }
  into[at++] = n
  return at
}

/** `payloads`, each with its length prefix, in one buffer. */
export function encodeFrames (...payloads: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(framedLength(payloads))
  writeFrames(payloads, out)
  return out
}

/**
 * `payloads` as frames followed by one frame of `lastLength` bytes left for the caller to fill at
 * `lastAt`: a large body (embedding vectors) is written once, into the buffer that is sent.
 */
export function encodeFramesWithRoom (payloads: Uint8Array[], lastLength: number): { out: Uint8Array, lastAt: number } {
  const out = new Uint8Array(framedLength(payloads) + varintLength(lastLength) + lastLength)
  const lastAt = writeVarint(lastLength, out, writeFrames(payloads, out))
  return { out, lastAt }
}

/** Bytes `payloads` take as frames (each with its length prefix). */
function framedLength (payloads: Uint8Array[]): number {
  let size = 0
  for (const p of payloads) size += varintLength(p.byteLength) + p.byteLength
  return size
}

/** Writes `payloads` as frames into `out` from its start; returns where the next byte goes. */
function writeFrames (payloads: Uint8Array[], out: Uint8Array): number {
  let at = 0
  for (const p of payloads) {
    at = writeVarint(p.byteLength, out, at)
    out.set(p, at)
    at += p.byteLength
  }
  return at
}

const encoder = new TextEncoder()

/** `texts` as UTF-8, each with its length prefix, encoded straight into one buffer. */
export function encodeTextFrames (...texts: string[]): Uint8Array {
  let size = 0
  const lengths = texts.map(text => {
    const length = Buffer.byteLength(text, 'utf8')
    size += varintLength(length) + length
    return length
  })
  const out = new Uint8Array(size)
  let at = 0
  texts.forEach((text, i) => {
    const length = lengths[i] as number
    at = writeVarint(length, out, at)
    encoder.encodeInto(text, out.subarray(at, at + length))
    at += length
  })
  return out
}

/** What a libp2p stream's source yields: bytes, or a list of them with `subarray()` to join them. */
type Chunk = Uint8Array | { subarray: () => Uint8Array }

/**
 * The frames in `source`, each at most `maxBytes`. Throws OversizeFrameError as soon as a prefix
 * announces more, BadFrameLengthError for a prefix that never ends, TruncatedFrameError when the
 * source ends inside a frame. A frame split over many chunks is joined once, when all of it is in.
 */
export async function * readFrames (source: AsyncIterable<Chunk>, maxBytes: number): AsyncGenerator<Uint8Array, void, undefined> {
  let parts: Uint8Array[] = []
  let buffered = 0
  /** Bytes to hold before the next frame can be complete. */
  let need = 0
  for await (const chunk of source) {
    const bytes = chunk instanceof Uint8Array ? chunk : chunk.subarray()
    parts.push(bytes)
    buffered += bytes.byteLength
    if (buffered < need) continue
    const buffer = parts.length === 1 ? bytes : join(parts, buffered)
    let at = 0
    while (at < buffer.byteLength) {
      const frame = frameAt(buffer, at, maxBytes)
      if (frame == null || frame.end > buffer.byteLength) {
        need = frame == null ? buffer.byteLength - at + 1 : frame.end - at
        break
      }
      yield buffer.subarray(frame.start, frame.end)
      at = frame.end
    }
    const rest = buffer.subarray(at)
    parts = rest.byteLength > 0 ? [rest] : []
    buffered = rest.byteLength
    if (buffered === 0) need = 0
  }
  if (buffered > 0) throw new TruncatedFrameError(`the stream ended inside a frame (${buffered} bytes left)`)
}

function join (parts: Uint8Array[], size: number): Uint8Array {
  const out = new Uint8Array(size)
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.byteLength
  }
  return out
}

/** Where the frame at `at` starts and ends (possibly past `buffer`'s end), or null while its length prefix is incomplete. */
function frameAt (buffer: Uint8Array, at: number, maxBytes: number): { start: number, end: number } | null {
  let length = 0
  let scale = 1
  let i = at
  while (true) {
    if (i - at === MAX_LENGTH_BYTES) throw new BadFrameLengthError(`frame length prefix longer than ${MAX_LENGTH_BYTES} bytes`)
    if (i === buffer.byteLength) return null
    const byte = buffer[i++] as number
    length += (byte & 0x7f) * scale
    if (byte < 0x80) break
    scale *= 0x80
  }
  if (length > maxBytes) throw new OversizeFrameError(`frame length too long: ${length} bytes > ${maxBytes}`)
  return { start: i, end: i + length }
}

/**
 * The one source a stream's sink reads for its whole life: frames queued by `push` and handed over
 * together, as one chunk, when the sink asks for more. Its own iterator (not a generator), so that
 * the stream can end it with `return()` while it waits, as it does on a reset.
 */
export class FrameQueue implements AsyncIterableIterator<Uint8Array> {
  private queue: Uint8Array[] = []
  private bytes = 0
  private ended = false
  private waiting: ((result: IteratorResult<Uint8Array, undefined>) => void) | undefined

  [Symbol.asyncIterator] (): this {
    return this
  }

  /** Bytes pushed that the sink has not taken yet. */
  get queuedBytes (): number {
    return this.bytes
  }

  /** Queues `chunk`; ignored after `end()`. */
  push (chunk: Uint8Array): void {
    if (this.ended) return
    const waiting = this.waiting
    if (waiting != null) {
      this.waiting = undefined
      waiting({ done: false, value: chunk })
      return
    }
    this.queue.push(chunk)
    this.bytes += chunk.byteLength
  }

  /** No more chunks: the sink takes what is queued, then ends. */
  end (): void {
    this.ended = true
    this.settle()
  }

  async next (): Promise<IteratorResult<Uint8Array, undefined>> {
    if (this.queue.length > 0) return { done: false, value: this.take() }
    if (this.ended) return { done: true, value: undefined }
    return await new Promise(resolve => { this.waiting = resolve })
  }

  /** The reader gives up (a reset): whatever is queued is dropped. */
  async return (): Promise<IteratorResult<Uint8Array, undefined>> {
    this.ended = true
    this.queue = []
    this.bytes = 0
    this.settle()
    return { done: true, value: undefined }
  }

  private settle (): void {
    const waiting = this.waiting
    if (waiting == null || this.queue.length > 0) return
    this.waiting = undefined
    waiting({ done: true, value: undefined })
  }

  private take (): Uint8Array {
    const queue = this.queue
    const chunk = queue.length === 1 ? queue[0] as Uint8Array : join(queue, this.bytes)
    this.queue = []
    this.bytes = 0
    return chunk
  }
}
