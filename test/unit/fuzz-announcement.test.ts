import assert from 'node:assert/strict'
import fc from 'fast-check'
import { peerIdFromString } from '@libp2p/peer-id'
import { MAX_ANNOUNCEMENT_BYTES } from '../../src/mesh/constants.js'
import { decodeAnnouncement, decodeView, encodeAnnouncement, encodeView, type ViewEntry } from '../../src/membership/announcement.js'
import type { Announcement } from '../../src/membership/types.js'
import { RUNS, check, decodeChecked, encoder, fuzzSuite, hex, json, mutatedBytes, nearMiss, shallowJson, throughJson } from '../helpers/fuzz.js'

// Property tests for the membership decoders: a gossiped announcement (with and without the
// gossipsub signer) and a full view from `/harombe/view/1.0.0`. Whatever the bytes, a decoder
// returns a Decoded (never throws), rejects with a known reason, and what it accepts is a valid
// announcement that survives a second trip. A failure prints fast-check's seed and path; pass
// them to fc.assert as { seed, path } to replay the case.

// Ed25519 peer ids (generateKeyPair('Ed25519') + peerIdFromPrivateKey).
const A = '12D3KooWQMHZVjj47RKpX2mhNeUV4PFHdzbj9EAv8qHxaMDJuXq1'
const B = '12D3KooWBgfaKjhnFrTBhmF7DQ2B3bMNNhLQCPuz74U2uaG8JuMo'

// ---- valid announcements and views ----

/** Printable text as names and models have it, with some non-ASCII. */
const printable = (minLength: number, maxLength: number): fc.Arbitrary<string> =>
  fc.string({ minLength, maxLength, unit: fc.oneof({ weight: 6, arbitrary: fc.string({ minLength: 1, maxLength: 1 }) }, fc.constantFrom('é', '中', '🔑', '\u00a0', '\u200b')) })
const count = fc.nat({ max: 1_000_000 })
const announcement: fc.Arbitrary<Announcement> = fc.record({
  peer_id: fc.constantFrom(A, B),
  name: printable(1, 30),
  incarnation: fc.maxSafeNat(),
  seq: fc.maxSafeNat(),
  state: fc.constantFrom('alive' as const, 'leaving' as const),
  models: fc.array(printable(1, 40), { maxLength: 5 }),
  tier: fc.constantFrom(0 as const, 1 as const, 2 as const),
  enabled: fc.boolean(),
  load: fc.record({ active: count, queued: count, capacity: count }),
  api_port: fc.nat({ max: 65535 }),
  addrs: fc.array(printable(1, 40), { maxLength: 3 }),
  version: printable(0, 10),
  sig: fc.base64String({ maxLength: 88 })
}, { requiredKeys: ['peer_id', 'name', 'incarnation', 'seq', 'state', 'models', 'tier', 'enabled', 'load', 'api_port', 'addrs', 'version'] })
const viewEntry: fc.Arbitrary<ViewEntry> = fc.record({ announcement, state: fc.constantFrom('alive' as const, 'suspect' as const, 'dead' as const, 'left' as const) })
const view = fc.array(viewEntry, { maxLength: 3 })

// ---- inputs that are not valid ----

const anyJson = shallowJson()

const jsonish = fc.string({ maxLength: 300, unit: fc.constantFrom(...'{}[]",:0123456789-.eE \n\\utruefalsnpeer_idtierseqloadmodelsentriesannouncement'.split('')) })

const randomInput: fc.Arbitrary<Uint8Array> = fc.oneof(
  fc.uint8Array({ maxLength: 600 }),
  jsonish.map(s => encoder.encode(s)),
  anyJson.map(json),
  nearMiss(announcement, anyJson).map(json),
  nearMiss(announcement, anyJson).map(a => json({ ...a, load: { active: 1, queued: 0, capacity: -1 } })),
  fc.array(fc.oneof(nearMiss(announcement, anyJson).map(a => ({ announcement: a, state: 'alive' })), nearMiss(viewEntry, anyJson), anyJson), { maxLength: 3 }).map(entries => json({ entries })),
  // Just under and over the size limit, where the oversize branch is decided.
  fc.integer({ min: MAX_ANNOUNCEMENT_BYTES - 8, max: MAX_ANNOUNCEMENT_BYTES + 8 }).map(n => new Uint8Array(n).fill(0x20))
)

/** Tokens a byte edit may insert: JSON's punctuation, a number too large for a double, an escape, non-ASCII. */
const TOKENS = ['{', '}', '[', ']', '"', ',', ':', '\\', '-', '0', '9', 'e', 'null', '1e999', '\\n', '\u00e9']
const mutatedValid = mutatedBytes(fc.oneof({ weight: 3, arbitrary: announcement.map(encodeAnnouncement) }, view.map(encodeView)), TOKENS, 6)

// ---- the property ----

interface Stats { ok: number, rejected: number, spoofed: number, viewEntries: number, viewSkipped: number }

/** The reasons a decoder may give for a rejection. */
const REASONS = /^(malformed|oversize|spoofed): \S/

/** An accepted announcement is a valid one: its id parses, and it encodes and decodes to itself. */
function assertSound (ann: Announcement, bytes: Uint8Array): void {
  check(peerIdFromString(ann.peer_id).toString() === ann.peer_id, () => `peer id from ${hex(bytes)}`)
  assert.ok(Number.isSafeInteger(ann.seq) && Number.isSafeInteger(ann.incarnation), 'versions are exact integers')
  assert.ok(!/[\u0000-\u001f\u007f-\u009f]/.test([ann.name, ann.version, ...ann.models, ...ann.addrs].join('')), 'no control characters')
  // Compared as JSON: -0 is a valid seq but travels as 0.
  const again = decodeAnnouncement(encodeAnnouncement(ann), ann.peer_id)
  check(again.ok && JSON.stringify(again.value) === JSON.stringify(ann), () => `${JSON.stringify(ann)} decodes to ${JSON.stringify(again)} on a second trip`)
}

function checkAll (bytes: Uint8Array, stats: Stats): void {
  const plain = decodeChecked('decodeAnnouncement', () => decodeAnnouncement(bytes), bytes, REASONS)
  if (plain.ok) {
    stats.ok++
    assertSound(plain.value, bytes)
    // The gossip validator's identity rule: accepted only when the payload names its signer.
    const signed = decodeChecked('decodeAnnouncement(signer A)', () => decodeAnnouncement(bytes, A), bytes, REASONS)
    check(signed.ok === (plain.value.peer_id === A), () => `signer check on ${hex(bytes)}`)
    if (!signed.ok) { stats.spoofed++; assert.match(signed.reason, /^spoofed/) }
  } else {
    // The signer is checked after the schema, so a payload rejected without one is rejected with one too.
    stats.rejected++
    if (bytes.byteLength > MAX_ANNOUNCEMENT_BYTES) assert.match(plain.reason, /^oversize/)
  }
  const v = decodeChecked('decodeView', () => decodeView(bytes), bytes, REASONS)
  if (v.ok) {
    for (const entry of v.value.entries) {
      assertSound(entry.announcement, bytes)
      assert.ok(['alive', 'suspect', 'dead', 'left'].includes(entry.state), `state ${entry.state}`)
    }
    for (const reason of v.value.skipped) assert.equal(typeof reason, 'string')
    stats.viewEntries += v.value.entries.length
    stats.viewSkipped += v.value.skipped.length
  }
}

const emptyStats = (): Stats => ({ ok: 0, rejected: 0, spoofed: 0, viewEntries: 0, viewSkipped: 0 })

describe('membership decoders (fuzz)', function () {
  fuzzSuite(this)

  // Round trips only need to cover the generator's shapes; the 10k budget goes to hostile input.
  it(`should accept every valid announcement and view (${RUNS / 10} cases)`, () => {
    fc.assert(fc.property(announcement, view, (ann, entries) => {
      assert.deepEqual(decodeAnnouncement(encodeAnnouncement(ann), ann.peer_id), { ok: true, value: throughJson(ann) })
      assert.deepEqual(decodeView(encodeView(entries)), { ok: true, value: { entries: throughJson(entries), skipped: [] } })
    }), { numRuns: RUNS / 10 })
  })

  it(`should never throw on random input, and accept only valid announcements (${RUNS} cases)`, () => {
    const stats = emptyStats()
    fc.assert(fc.property(randomInput, bytes => { checkAll(bytes, stats) }), { numRuns: RUNS })
    // The near-miss generators reach the accept and skip paths too, not only outright rejection.
    assert.ok(stats.ok > RUNS / 100 && stats.spoofed > 0 && stats.viewEntries > 0 && stats.viewSkipped > 0, JSON.stringify(stats))
  })

  it(`should never throw on mutated valid announcements and views (${RUNS} cases)`, () => {
    const stats = emptyStats()
    fc.assert(fc.property(mutatedValid, bytes => { checkAll(bytes, stats) }), { numRuns: RUNS })
    assert.ok(stats.ok > RUNS / 100, `some mutations stay valid: ${JSON.stringify(stats)}`)
    assert.ok(stats.rejected > RUNS / 2, JSON.stringify(stats))
  })
})
