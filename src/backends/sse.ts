// Line, Server-Sent Events and NDJSON readers over a fetch body (or any byte stream).
// Shared by the OpenAI and Ollama backends and by the HTTP client for peers: one careful
// line splitter instead of three ad hoc `split('\n')` loops that break on a chunk boundary.

/** A line longer than this is refused: one SSE/NDJSON record of a completion is at most a few KiB. */
export const MAX_LINE_LENGTH = 1024 * 1024

/** The bytes are not the format they claim to be (line too long, broken JSON). */
export class StreamFormatError extends Error {
  static name = 'StreamFormatError'
  name = StreamFormatError.name
}

export type ByteSource = ReadableStream<Uint8Array> | AsyncIterable<Uint8Array>

export interface ReadLinesOptions {
  /** Characters allowed in one line before StreamFormatError; default MAX_LINE_LENGTH. */
  maxLineLength?: number
}

/**
 * Yields the lines of a UTF-8 byte stream without their terminators. LF, CRLF and a lone CR
 * all end a line (the SSE rule), also when a CRLF is split across two chunks. A last line
 * without a terminator is yielded too (NDJSON often ends that way).
 * Leaving the loop early (break, throw) cancels the body so the connection is released.
 */
export async function * readLines (source: ByteSource, options: ReadLinesOptions = {}): AsyncGenerator<string, void, undefined> {
  const max = options.maxLineLength ?? MAX_LINE_LENGTH
  const decoder = new TextDecoder()
  let buffer = ''
  // The previous chunk ended in CR: a LF at the start of the next one belongs to it.
  let skipLF = false
  // Leaving this loop early (break, throw) returns `iterate`, which cancels the body.
  for await (const chunk of iterate(source)) {
    let text = decoder.decode(chunk, { stream: true })
    if (skipLF && text.length > 0) {
      if (text.startsWith('\n')) text = text.slice(1)
      skipLF = false
    }
    buffer += text
    let start = 0
    const terminator = /[\r\n]/g
    let match: RegExpExecArray | null
    while ((match = terminator.exec(buffer)) != null) {
      const end = match.index
      yield buffer.slice(start, end)
      let next = end + 1
      if (buffer[end] === '\r') {
        if (next < buffer.length) {
          if (buffer[next] === '\n') next++
        } else {
          skipLF = true
        }
      }
      start = next
      terminator.lastIndex = next
    }
    buffer = buffer.slice(start)
    if (buffer.length > max) throw new StreamFormatError(`line longer than ${max} characters`)
  }
  buffer += decoder.decode()
  if (buffer.length > 0) yield buffer
}

export interface SseEvent {
  /** `event:` field; `message` when the server gave none. */
  event: string
  /** `data:` lines joined with `\n`. */
  data: string
  /** The last `id:` seen so far in the stream, if any. */
  id?: string
}

/**
 * Yields the events of a `text/event-stream` body, following the WHATWG parsing rules:
 * comments (`:` lines) and `retry:` are skipped, multi-line data is joined, and an event
 * still open when the stream ends is dropped (it was cut, not finished).
 */
export async function * readSse (source: ByteSource, options: ReadLinesOptions = {}): AsyncGenerator<SseEvent, void, undefined> {
  let data: string[] = []
  let event = ''
  let id: string | undefined
  let first = true
  for await (let line of readLines(source, options)) {
    if (first) {
      if (line.startsWith('\uFEFF')) line = line.slice(1)
      first = false
    }
    if (line === '') {
      if (data.length > 0) yield { event: event === '' ? 'message' : event, data: data.join('\n'), ...(id != null ? { id } : {}) }
      data = []
      event = ''
      continue
    }
    if (line.startsWith(':')) continue
    const colon = line.indexOf(':')
    const field = colon === -1 ? line : line.slice(0, colon)
    let value = colon === -1 ? '' : line.slice(colon + 1)
    if (value.startsWith(' ')) value = value.slice(1)
    if (field === 'data') data.push(value)
    else if (field === 'event') event = value
    else if (field === 'id' && !value.includes('\0')) id = value
  }
}

/** Yields one parsed JSON value per non-blank line; a line that is not JSON is a StreamFormatError. */
export async function * readNdjson<T = unknown> (source: ByteSource, options: ReadLinesOptions = {}): AsyncGenerator<T, void, undefined> {
  for await (const line of readLines(source, options)) {
    if (line.trim() === '') continue
    let value: T
    try {
      value = JSON.parse(line)
    } catch {
      throw new StreamFormatError(`not a JSON line: ${line.slice(0, 120)}`)
    }
    yield value
  }
}

/**
 * Web streams are read through a reader so that leaving early cancels the body (a plain
 * `for await` over a ReadableStream is not in the DOM lib types we compile against).
 */
async function * iterate (source: ByteSource): AsyncGenerator<Uint8Array, void, undefined> {
  if (!isReadableStream(source)) {
    yield * source
    return
  }
  const reader = source.getReader()
  let finished = false
  try {
    while (true) {
      const { done, value } = await reader.read()
      if (done) {
        finished = true
        return
      }
      yield value
    }
  } finally {
    // Not awaited: cancelling an aborted fetch body may reject or settle late, and the
    // caller's error (or early exit) is what matters here.
    if (!finished) reader.cancel().catch(() => {})
    reader.releaseLock()
  }
}

function isReadableStream (source: ByteSource): source is ReadableStream<Uint8Array> {
  return typeof (source as ReadableStream<Uint8Array>).getReader === 'function'
}
