import assert from 'node:assert/strict'
import fc from 'fast-check'
import { MAX_SWIM_FRAME_BYTES } from '../../src/mesh/constants.js'
import { decodeMessage, encodeMessage, MAX_UPDATES_PER_MESSAGE, type SwimMessage, type Update } from '../../src/membership/messages.js'
import type { Announcement } from '../../src/membership/types.js'
import { RUNS, decodeChecked, encoder, fuzzSuite, json, mutatedBytes, nearMiss, shallowJson, throughJson } from '../helpers/fuzz.js'

// Property tests for the SWIM message decoder (`/harombe/swim/1.0.0`): whatever the bytes, it
// returns a Decoded (never throws) within the time bound, rejects with a known reason, skips bad
// updates without losing good ones, and what it accepts encodes and decodes to itself.

const A = '12D3KooWQMHZVjj47RKpX2mhNeUV4PFHdzbj9EAv8qHxaMDJuXq1'
const B = '12D3KooWBgfaKjhnFrTBhmF7DQ2B3bMNNhLQCPuz74U2uaG8JuMo'
const peer = fc.constantFrom(A, B)
const count = fc.maxSafeNat()

const announcement: fc.Arbitrary<Announcement> = fc.record({
  peer_id: peer,
  name: fc.string({ minLength: 1, maxLength: 20 }).filter(s => !/[\u0000-\u001f\u007f-\u009f]/.test(s)),
  incarnation: count,
  seq: count,
  state: fc.constantFrom('alive' as const, 'leaving' as const),
  models: fc.array(fc.constantFrom('m', 'qwen2.5:3b', 'llama3'), { maxLength: 3 }),
  tier: fc.constantFrom(0 as const, 1 as const, 2 as const),
  enabled: fc.boolean(),
  load: fc.record({ active: fc.nat(100), queued: fc.nat(100), capacity: fc.nat(100) }),
  api_port: fc.nat({ max: 65535 }),
  addrs: fc.array(fc.constant('/ip4/127.0.0.1/tcp/4700'), { maxLength: 2 }),
  version: fc.constant('0.1.0'),
  sig: fc.base64String({ maxLength: 88 })
})
const update: fc.Arbitrary<Update> = fc.oneof(
  announcement.map(a => ({ type: 'alive' as const, announcement: a })),
  fc.record({ type: fc.constant('suspect' as const), peer_id: peer, incarnation: count, seq: count, from: peer }),
  fc.record({ type: fc.constant('dead' as const), peer_id: peer, incarnation: count, seq: count, from: peer, reason: fc.constantFrom('', 'suspicion timeout', 'no answer') })
)
const updates = fc.array(update, { maxLength: 4 })
const seen = fc.record({ incarnation: count, seq: count, state: fc.constantFrom('alive' as const, 'suspect' as const, 'dead' as const, 'left' as const) })
const message: fc.Arbitrary<SwimMessage> = fc.oneof(
  fc.record({ type: fc.constant('ping' as const), seen, updates }, { requiredKeys: ['type', 'updates'] }),
  fc.record({ type: fc.constant('ping-req' as const), target: peer, updates }),
  fc.record({ type: fc.constant('gossip' as const), updates }),
  fc.record({ type: fc.constant('ack' as const), seen, self: announcement, updates }, { requiredKeys: ['type', 'updates'] }),
  fc.record({ type: fc.constant('nack' as const), updates })
)

const anyJson = shallowJson()
const hostile: fc.Arbitrary<Uint8Array> = fc.oneof(
  fc.uint8Array({ maxLength: 600 }),
  anyJson.map(json),
  nearMiss(message as fc.Arbitrary<object>, anyJson).map(json),
  // Good envelope, junk updates: each one is skipped, the message stays.
  fc.tuple(message, fc.array(fc.oneof(nearMiss(update as fc.Arbitrary<object>, anyJson), anyJson), { minLength: 1, maxLength: 3 })).map(([m, junk]) => json({ ...m, updates: [...m.updates, ...junk] })),
  fc.integer({ min: MAX_UPDATES_PER_MESSAGE - 1, max: MAX_UPDATES_PER_MESSAGE + 1 }).map(n => json({ type: 'gossip', updates: new Array(n).fill({ type: 'suspect', peer_id: A, incarnation: 1, seq: 1, from: B }) })),
  fc.integer({ min: MAX_SWIM_FRAME_BYTES - 4, max: MAX_SWIM_FRAME_BYTES + 4 }).map(n => new Uint8Array(n).fill(0x20))
)
const TOKENS = ['{', '}', '[', ']', '"', ',', ':', '\\', '-', '0', '9', 'null', '1e999', 'ping', 'ack', '\u00e9']
const mutated = mutatedBytes(message.map(encodeMessage), TOKENS, 6)

const REASONS = /^(malformed|oversize): \S/

describe('SWIM message decoder (fuzz)', function () {
  fuzzSuite(this)

  it(`should accept every valid message as it was sent (${RUNS / 10} cases)`, () => {
    fc.assert(fc.property(message, m => {
      const decoded = decodeMessage(encodeMessage(m), MAX_SWIM_FRAME_BYTES)
      assert.deepEqual(decoded, { ok: true, value: { message: throughJson(m), skipped: [] } })
    }), { numRuns: RUNS / 10 })
  })

  it(`should never throw on hostile or mutated input, and keep only valid updates (${RUNS} cases)`, () => {
    let accepted = 0
    let skipped = 0
    fc.assert(fc.property(fc.oneof(hostile, mutated), bytes => {
      const decoded = decodeChecked('decodeMessage', () => decodeMessage(bytes, MAX_SWIM_FRAME_BYTES), bytes, REASONS)
      if (!decoded.ok) {
        if (bytes.byteLength > MAX_SWIM_FRAME_BYTES) assert.match(decoded.reason, /^oversize/)
        return
      }
      accepted++
      skipped += decoded.value.skipped.length
      const m = decoded.value.message
      assert.ok(m.updates.length <= MAX_UPDATES_PER_MESSAGE)
      // What passed decodes to itself again: nothing half-valid got through.
      const again = decodeMessage(encodeMessage(m), MAX_SWIM_FRAME_BYTES)
      assert.ok(again.ok && again.value.skipped.length === 0 && JSON.stringify(again.value.message) === JSON.stringify(m))
    }), { numRuns: RUNS })
    // The generators must reach both branches, or the property proves little.
    assert.ok(accepted > 100 && skipped > 100, `accepted ${accepted}, skipped updates ${skipped}`)
  })

  it('should reject a frame over the limit before parsing it', () => {
    const decoded = decodeMessage(encoder.encode(' '.repeat(MAX_SWIM_FRAME_BYTES + 1)), MAX_SWIM_FRAME_BYTES)
    assert.deepEqual(decoded, { ok: false, reason: `oversize: ${MAX_SWIM_FRAME_BYTES + 1} bytes > ${MAX_SWIM_FRAME_BYTES}` })
  })
})
