import assert from 'node:assert/strict'
import fc from 'fast-check'
import { peerIdFromString } from '@libp2p/peer-id'
import { MAX_ANNOUNCEMENT_BYTES } from '../../src/mesh/constants.js'
import { decodeAnnouncement, decodeView, encodeAnnouncement, encodeView, type Decoded, type ViewEntry } from '../../src/membership/announcement.js'
import type { Announcement } from '../../src/membership/types.js'

// Property tests for the membership decoders: a gossiped announcement (with and without the
// gossipsub signer) and a full view from `/harombe/view/1.0.0`. Whatever the bytes, a decoder
// returns a Decoded (never throws), rejects with a known reason, and what it accepts is a valid
// announcement that survives a second trip. A failure prints fast-check's seed and path; pass
// them to fc.assert as { seed, path } to replay the case.

/** The suite's case count per property (issue 7: at least 10,000). */
const RUNS = 10_000
/** Far above a decode of a few KB (~30 µs); only a pathological input (a hang) gets near it. */
const MAX_DECODE_MS = 1_000

// Ed25519 peer ids (generateKeyPair('Ed25519') + peerIdFromPrivateKey).
const A = '12D3KooWQMHZVjj47RKpX2mhNeUV4PFHdzbj9EAv8qHxaMDJuXq1'
const B = '12D3KooWBgfaKjhnFrTBhmF7DQ2B3bMNNhLQCPuz74U2uaG8JuMo'

const encoder = new TextEncoder()
const json = (value: unknown): Uint8Array => encoder.encode(JSON.stringify(value))
const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex').slice(0, 400)
/** assert.ok with a message built only on failure: templates with hex dumps cost more than the decodes. */
function check (condition: boolean, message: () => string): asserts condition {
  if (!condition) assert.fail(message())
}

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

/** Any JSON value, shallow: fc.jsonValue costs ~100 µs a sample, too slow for 10k runs of several fields. */
const anyJson: fc.Arbitrary<unknown> = fc.oneof(
  fc.constant(null), fc.boolean(), fc.integer(), fc.double(), fc.string({ maxLength: 8 }),
  fc.array(fc.oneof(fc.integer(), fc.string({ maxLength: 4 })), { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 4 }), fc.oneof(fc.integer(), fc.string({ maxLength: 4 })), { maxKeys: 3 })
)

/** Each field kept, dropped, or replaced by any JSON value: near misses reach every schema branch. */
function nearMiss (valid: fc.Arbitrary<object>): fc.Arbitrary<Record<string, unknown>> {
  return valid.chain(value => {
    const fields = Object.entries(value)
    // Kept with weight 2n against 2 for n fields: about a third of the objects stay valid, the rest break ~1 field.
    const keep = 2 * fields.length
    return fc.record(Object.fromEntries(fields.map(([k, v]) => [k, fc.oneof({ weight: keep, arbitrary: fc.constant(v) }, { weight: 1, arbitrary: anyJson }, { weight: 1, arbitrary: fc.constant(undefined) })])))
  })
}

const jsonish = fc.string({ maxLength: 300, unit: fc.constantFrom(...'{}[]",:0123456789-.eE \n\\utruefalsnpeer_idtierseqloadmodelsentriesannouncement'.split('')) })

const randomInput: fc.Arbitrary<Uint8Array> = fc.oneof(
  fc.uint8Array({ maxLength: 600 }),
  jsonish.map(s => encoder.encode(s)),
  anyJson.map(json),
  nearMiss(announcement).map(json),
  nearMiss(announcement).map(a => json({ ...a, load: { active: 1, queued: 0, capacity: -1 } })),
  fc.array(fc.oneof(nearMiss(announcement).map(a => ({ announcement: a, state: 'alive' })), nearMiss(viewEntry), anyJson), { maxLength: 3 }).map(entries => json({ entries })),
  // Just under and over the size limit, where the oversize branch is decided.
  fc.integer({ min: MAX_ANNOUNCEMENT_BYTES - 8, max: MAX_ANNOUNCEMENT_BYTES + 8 }).map(n => new Uint8Array(n).fill(0x20))
)

/** Byte-level edits of the kind a buggy or hostile peer produces. */
const edit = fc.oneof(
  fc.record({ op: fc.constant('set' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ op: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ op: fc.constant('insert' as const), at: fc.nat(), bytes: fc.oneof(fc.uint8Array({ minLength: 1, maxLength: 4 }), fc.constantFrom(...['{', '}', '[', ']', '"', ',', ':', '\\', '-', '0', '9', 'e', 'null', '1e999', '\\n', '\u00e9'].map(s => encoder.encode(s)))) }),
  fc.record({ op: fc.constant('delete' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 16 }) }),
  fc.record({ op: fc.constant('duplicate' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 32 }), to: fc.nat() }),
  fc.record({ op: fc.constant('truncate' as const), at: fc.nat() }),
  // Keeps the JSON well-formed, so the schema (not the JSON parser) decides: the accept path gets exercised.
  fc.record({ op: fc.constant('digit' as const), at: fc.nat(), digit: fc.integer({ min: 0, max: 9 }) })
)
type Edit = typeof edit extends fc.Arbitrary<infer E> ? E : never

function applyEdits (original: Uint8Array, edits: Edit[]): Uint8Array {
  const b = [...original]
  for (const e of edits) {
    const at = e.at % (b.length + 1)
    if (e.op === 'set' && b.length > 0) b[at % b.length] = e.byte
    else if (e.op === 'flip' && b.length > 0) b[at % b.length] = (b[at % b.length] ?? 0) ^ (1 << e.bit)
    else if (e.op === 'insert') b.splice(at, 0, ...e.bytes)
    else if (e.op === 'delete') b.splice(at, e.length)
    else if (e.op === 'duplicate') b.splice(e.to % (b.length + 1), 0, ...b.slice(at, at + e.length))
    else if (e.op === 'truncate') b.length = at
    else if (e.op === 'digit') {
      const digits = b.flatMap((c, i) => c >= 0x30 && c <= 0x39 ? [i] : [])
      const i = digits[e.at % Math.max(1, digits.length)]
      if (i != null) b[i] = 0x30 + e.digit
    }
  }
  return Uint8Array.from(b)
}

const mutatedValid: fc.Arbitrary<Uint8Array> = fc.tuple(
  fc.oneof({ weight: 3, arbitrary: announcement.map(encodeAnnouncement) }, view.map(encodeView)),
  fc.array(edit, { minLength: 1, maxLength: 6 })
).map(([bytes, edits]) => applyEdits(bytes, edits))

// ---- the property ----

interface Stats { ok: number, rejected: number, spoofed: number, viewEntries: number, viewSkipped: number }

function decodeChecked<T> (name: string, decode: () => Decoded<T>, bytes: Uint8Array): Decoded<T> {
  let result: Decoded<T> | undefined
  let ms = 0
  // A slow call is timed again: a GC pause or a busy machine passes the second time, a pathological input does not.
  for (let attempt = 0; attempt < 2 && (attempt === 0 || ms >= MAX_DECODE_MS); attempt++) {
    const started = performance.now()
    try {
      result = decode()
    } catch (err) {
      assert.fail(`${name} threw ${String(err)} on ${hex(bytes)}`)
    }
    ms = performance.now() - started
  }
  check(ms < MAX_DECODE_MS, () => `${name} took ${Math.round(ms)} ms twice on ${bytes.byteLength} bytes: ${hex(bytes)}`)
  check(result != null && typeof result.ok === 'boolean', () => `${name} returned ${String(result)}`)
  if (!result.ok) check(/^(malformed|oversize|spoofed): \S/.test(result.reason), () => `${name}: unexpected reason ${result.reason} on ${hex(bytes)}`)
  return result
}

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
  const plain = decodeChecked('decodeAnnouncement', () => decodeAnnouncement(bytes), bytes)
  if (plain.ok) {
    stats.ok++
    assertSound(plain.value, bytes)
    // The gossip validator's identity rule: accepted only when the payload names its signer.
    const signed = decodeChecked('decodeAnnouncement(signer A)', () => decodeAnnouncement(bytes, A), bytes)
    check(signed.ok === (plain.value.peer_id === A), () => `signer check on ${hex(bytes)}`)
    if (!signed.ok) { stats.spoofed++; assert.match(signed.reason, /^spoofed/) }
  } else {
    // The signer is checked after the schema, so a payload rejected without one is rejected with one too.
    stats.rejected++
    if (bytes.byteLength > MAX_ANNOUNCEMENT_BYTES) assert.match(plain.reason, /^oversize/)
  }
  const v = decodeChecked('decodeView', () => decodeView(bytes), bytes)
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
  // 10k cases take a few seconds here; the margin is for a loaded 2-core machine.
  this.timeout(60_000)
  // mocha sets Error.stackTraceLimit to Infinity, so every error a decoder creates (and rejected input
  // creates many) walks the whole fast-check stack: most of this suite's time, and not what a peer
  // pays. Node's default is restored for the fuzz runs.
  let stackTraceLimit = Error.stackTraceLimit
  before(() => { stackTraceLimit = Error.stackTraceLimit; Error.stackTraceLimit = 10 })
  after(() => { Error.stackTraceLimit = stackTraceLimit })

  // Round trips only need to cover the generator's shapes; the 10k budget goes to hostile input.
  it(`should accept every valid announcement and view (${RUNS / 10} cases)`, () => {
    fc.assert(fc.property(announcement, view, (ann, entries) => {
      // Through JSON: fast-check builds records without a prototype, decoded objects have one.
      assert.deepEqual(decodeAnnouncement(encodeAnnouncement(ann), ann.peer_id), { ok: true, value: JSON.parse(JSON.stringify(ann)) })
      assert.deepEqual(decodeView(encodeView(entries)), { ok: true, value: { entries: JSON.parse(JSON.stringify(entries)), skipped: [] } })
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
