import assert from 'node:assert/strict'
import fc from 'fast-check'
import * as lp from 'it-length-prefixed'
import { BadFrameLengthError, encodeFrames, encodeTextFrames, FrameQueue, OversizeFrameError, readFrames, TruncatedFrameError } from '../../src/mesh/framing.js'
import { fuzzSuite, RUNS } from '../helpers/fuzz.js'

// The completion protocol's own length-prefixed framing: byte for byte what it-length-prefixed
// writes (peers of older versions read it with that library), read back whatever the chunking.

async function * chunked (bytes: Uint8Array, cuts: number[]): AsyncGenerator<Uint8Array> {
  let at = 0
  for (const cut of [...new Set(cuts.map(c => c % (bytes.byteLength + 1)))].sort((a, b) => a - b)) {
    yield bytes.subarray(at, cut)
    at = cut
  }
  yield bytes.subarray(at)
}

async function readAll (source: AsyncIterable<Uint8Array>, max = 1 << 20): Promise<Uint8Array[]> {
  const out: Uint8Array[] = []
  for await (const frame of readFrames(source, max)) out.push(Uint8Array.from(frame))
  return out
}

async function rejection (promise: Promise<unknown>): Promise<any> {
  try {
    await promise
  } catch (err) {
    return err
  }
  assert.fail('expected a rejection')
}

describe('protocol framing', function () {
  fuzzSuite(this)

  it('should write what it-length-prefixed writes', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 20_000 }), payload => {
      assert.deepEqual(encodeFrames(payload), lp.encode.single(payload).subarray())
    }), { numRuns: RUNS / 10 })
  })

  it('should write text frames as the same frames of its UTF-8 bytes', () => {
    fc.assert(fc.property(fc.array(fc.string({ maxLength: 200, unit: 'grapheme' }), { maxLength: 4 }), texts => {
      const encoder = new TextEncoder()
      assert.deepEqual(encodeTextFrames(...texts), encodeFrames(...texts.map(t => encoder.encode(t))))
    }), { numRuns: RUNS / 10 })
  })

  it(`should read back every frame whatever the chunking (${RUNS / 10} cases)`, async () => {
    await fc.assert(fc.asyncProperty(fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 6 }), fc.array(fc.nat(), { maxLength: 8 }), async (payloads, cuts) => {
      const bytes = encodeFrames(...payloads)
      assert.deepEqual(await readAll(chunked(bytes, cuts)), payloads.map(p => Uint8Array.from(p)))
    }), { numRuns: RUNS / 10 })
  })

  it('should read what it-length-prefixed writes, and the reverse', async () => {
    const payloads = [new Uint8Array(0), new Uint8Array(127).fill(1), new Uint8Array(128).fill(2), new Uint8Array(70_000).fill(3)]
    const theirs = payloads.map(p => lp.encode.single(p).subarray())
    const ours = []
    for await (const frame of readFrames((async function * () { for (const t of theirs) yield t })(), 1 << 20)) ours.push(frame.byteLength)
    assert.deepEqual(ours, payloads.map(p => p.byteLength))
    const back = []
    for await (const frame of lp.decode((async function * () { yield encodeFrames(...payloads) })())) back.push(frame.byteLength)
    assert.deepEqual(back, payloads.map(p => p.byteLength))
  })

  it('should reject an oversize frame from its length prefix, before its body arrives', async () => {
    const prefix = encodeFrames(new Uint8Array(101)).subarray(0, 1)
    const source = (async function * () {
      yield prefix
      throw new Error('the body was waited for')
    })()
    const err = await rejection(readAll(source, 100))
    assert.equal(err.name, OversizeFrameError.name)
    assert.match(err.message, /too long/)
  })

  it('should reject a length prefix that does not end', async () => {
    const err = await rejection(readAll(chunked(new Uint8Array(9).fill(0xff), [3]), 1 << 20))
    assert.equal(err.name, BadFrameLengthError.name)
  })

  it('should reject a stream that ends inside a frame', async () => {
    const bytes = encodeFrames(new Uint8Array(10))
    const err = await rejection(readAll(chunked(bytes.subarray(0, 5), [])))
    assert.equal(err.name, TruncatedFrameError.name)
  })

  describe('FrameQueue', () => {
    it('should hand over what was queued together as one chunk, then end', async () => {
      const queue = new FrameQueue()
      queue.push(Uint8Array.of(1))
      queue.push(Uint8Array.of(2, 3))
      assert.equal(queue.queuedBytes, 3)
      queue.end()
      queue.push(Uint8Array.of(4))
      assert.deepEqual(await queue.next(), { done: false, value: Uint8Array.of(1, 2, 3) })
      assert.deepEqual(await queue.next(), { done: true, value: undefined })
    })

    it('should give a waiting reader the next chunk at once', async () => {
      const queue = new FrameQueue()
      const next = queue.next()
      queue.push(Uint8Array.of(7))
      assert.deepEqual(await next, { done: false, value: Uint8Array.of(7) })
    })

    it('should end a waiting reader when it is returned (a stream reset)', async () => {
      const queue = new FrameQueue()
      const next = queue.next()
      assert.equal(queue[Symbol.asyncIterator](), queue)
      await queue.return()
      assert.deepEqual(await next, { done: true, value: undefined })
    })
  })
})
