import assert from 'node:assert/strict'
import { readLines, readNdjson, readSse, StreamFormatError, type SseEvent } from '../../src/backends/sse.js'
import { mulberry32 as random } from '../../src/util/prng.js'

const encoder = new TextEncoder()

/** A web ReadableStream that delivers `bytes` cut at the given offsets. */
function streamOf (bytes: Uint8Array, cuts: number[] = []): ReadableStream<Uint8Array> {
  const bounds = [0, ...cuts.filter(c => c > 0 && c < bytes.length).sort((a, b) => a - b), bytes.length]
  let i = 0
  return new ReadableStream<Uint8Array>({
    pull (controller) {
      if (i >= bounds.length - 1) {
        controller.close()
        return
      }
      controller.enqueue(bytes.slice(bounds[i], bounds[i + 1]))
      i++
    }
  })
}

async function collect<T> (source: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = []
  for await (const item of source) out.push(item)
  return out
}

describe('stream readers', () => {
  describe('readLines', () => {
    it('should split on LF, CRLF and CR and keep a last line without terminator', async () => {
      const lines = await collect(readLines(streamOf(encoder.encode('a\nb\r\nc\rd'))))
      assert.deepEqual(lines, ['a', 'b', 'c', 'd'])
    })

    it('should treat a CRLF split across chunks as one terminator', async () => {
      const bytes = encoder.encode('a\r\nb\r\n\r\nc')
      const lines = await collect(readLines(streamOf(bytes, [2, 5])))
      assert.deepEqual(lines, ['a', 'b', '', 'c'])
    })

    it('should refuse a line longer than the limit', async () => {
      await assert.rejects(collect(readLines(streamOf(encoder.encode('x'.repeat(100))), { maxLineLength: 10 })), StreamFormatError)
    })

    it('should cancel the body when the reader leaves early', async () => {
      let cancelled = false
      const body = new ReadableStream<Uint8Array>({
        pull (controller) { controller.enqueue(encoder.encode('line\n')) },
        cancel () { cancelled = true }
      })
      for await (const line of readLines(body)) {
        assert.equal(line, 'line')
        break
      }
      assert.equal(cancelled, true)
    })
  })

  describe('readSse', () => {
    it('should join data lines, skip comments and keep event names and ids', async () => {
      const text = ': keep-alive\n\nevent: view\nid: 7\ndata: {"a":\ndata: 1}\n\ndata: [DONE]\n\n'
      const events = await collect(readSse(streamOf(encoder.encode(text))))
      assert.deepEqual(events, [
        { event: 'view', data: '{"a":\n1}', id: '7' },
        { event: 'message', data: '[DONE]', id: '7' }
      ])
    })

    it('should drop an event the stream cut before its blank line', async () => {
      const events = await collect(readSse(streamOf(encoder.encode('data: one\n\ndata: tw'))))
      assert.deepEqual(events.map(e => e.data), ['one'])
    })

    it('should parse the same events however the bytes are chunked (fuzz)', async () => {
      const rand = random(42)
      const pieces = ['héllo', '世界', '🙂 ok', 'a:b', '', '{"x":[1,2]}']
      for (let round = 0; round < 200; round++) {
        const expected: SseEvent[] = []
        let text = ''
        for (let e = 0; e < 1 + Math.floor(rand() * 5); e++) {
          const eol = ['\n', '\r\n', '\r'][Math.floor(rand() * 3)] ?? '\n'
          const lines = Array.from({ length: 1 + Math.floor(rand() * 3) }, () => pieces[Math.floor(rand() * pieces.length)] ?? '')
          if (rand() < 0.3) text += `: comment${eol}`
          text += lines.map(l => `data: ${l}${eol}`).join('') + eol
          expected.push({ event: 'message', data: lines.join('\n') })
        }
        const bytes = encoder.encode(text)
        const cuts = Array.from({ length: Math.floor(rand() * 8) }, () => Math.floor(rand() * bytes.length))
        const events = await collect(readSse(streamOf(bytes, cuts)))
        assert.deepEqual(events, expected, `round ${round}, cuts ${JSON.stringify(cuts)}, text ${JSON.stringify(text)}`)
      }
    })
  })

  describe('readNdjson', () => {
    it('should parse one value per line and skip blank lines', async () => {
      const values = await collect(readNdjson(streamOf(encoder.encode('{"a":1}\n\n{"b":"é"}\r\n[3]'), [3, 12])))
      assert.deepEqual(values, [{ a: 1 }, { b: 'é' }, [3]])
    })

    it('should refuse a line that is not JSON', async () => {
      await assert.rejects(collect(readNdjson(streamOf(encoder.encode('{"a":1}\n{oops\n')))), StreamFormatError)
    })
  })
})
