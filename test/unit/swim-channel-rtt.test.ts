import assert from 'node:assert/strict'
import { pushable, type Pushable } from 'it-pushable'
import type { Stream } from '@libp2p/interface'
import { openChannel, roundTripMs, serveChannel } from '../../src/membership/swim-channel.js'
import type { SwimReply } from '../../src/membership/messages.js'
import { decodeMessage } from '../../src/membership/messages.js'
import { createLogger } from '../../src/log.js'

/** One end of an in-memory duplex: what it sinks, the other end's source yields. */
function duplexPair (): [Stream, Stream] {
  const end = (incoming: Pushable<Uint8Array>, outgoing: Pushable<Uint8Array>): Stream => ({
    status: 'open',
    source: incoming,
    sink: async (source: AsyncIterable<Uint8Array | { subarray: () => Uint8Array }>) => {
      for await (const chunk of source) outgoing.push(chunk instanceof Uint8Array ? chunk : chunk.subarray())
      outgoing.end()
    },
    close: async () => { outgoing.end() },
    abort: () => { outgoing.end(); incoming.end() }
  }) as unknown as Stream
  const ab = pushable<Uint8Array>()
  const ba = pushable<Uint8Array>()
  return [end(ba, ab), end(ab, ba)]
}

describe('membership channel: round trips less the answerer\'s time', () => {
  const ack = (held?: number): SwimReply => ({ type: 'ack', updates: [], ...(held != null ? { held_us: held } : {}) })
  const cases: Array<{ why: string, sentAt: number, arrivedAt: number, reply: SwimReply, ms: number }> = [
    { why: 'no held_us (an older peer): the whole round trip', sentAt: 10, arrivedAt: 12.5, reply: ack(), ms: 2.5 },
    { why: 'held_us taken out', sentAt: 10, arrivedAt: 12.5, reply: ack(2_000), ms: 0.5 },
    { why: 'a nack has no held time', sentAt: 10, arrivedAt: 11, reply: { type: 'nack', updates: [] }, ms: 1 },
    { why: 'a held time longer than the round trip (clock granularity): zero, never negative', sentAt: 10, arrivedAt: 10.2, reply: ack(300), ms: 0 }
  ]
  for (const c of cases) {
    it(`should compute ${c.why}`, () => {
      assert.ok(Math.abs(roundTripMs(c.sentAt, c.arrivedAt, c.reply) - c.ms) < 1e-9)
    })
  }

  it('should accept held_us up to a minute and refuse a negative, fractional or larger one', () => {
    const decode = (held: unknown): boolean => decodeMessage(new TextEncoder().encode(JSON.stringify({ type: 'ack', updates: [], held_us: held })), 4096).ok
    assert.deepEqual([0, 1234, 60_000_000].map(decode), [true, true, true])
    assert.deepEqual([-1, 1.5, 60_000_001, '12'].map(decode), [false, false, false, false])
  })

  it('should stamp an ack with the time the answer took, and report the round trip without it', async () => {
    const [client, server] = duplexPair()
    const answerMs = 40
    const serving = serveChannel(server, 4096, async () => {
      await new Promise(resolve => setTimeout(resolve, answerMs))
      return ack()
    }, reason => { assert.fail(reason) }, createLogger({ level: 'silent' }))
    const channel = openChannel(client, 4096, reason => { assert.fail(reason) })
    let roundTrip: number | undefined
    const started = performance.now()
    const reply = await channel.request({ type: 'ping', updates: [] }, AbortSignal.timeout(5_000), ms => { roundTrip = ms })
    const total = performance.now() - started
    assert.equal(reply.type, 'ack')
    const held = reply.type === 'ack' ? reply.held_us ?? 0 : 0
    assert.ok(held >= (answerMs - 2) * 1000, `held_us ${held} covers the ${answerMs} ms answer`)
    assert.ok(roundTrip != null && roundTrip < total - answerMs + 2, `round trip ${String(roundTrip)} ms leaves out the answer (total ${total} ms)`)
    channel.close()
    await serving
  })
})
