import assert from 'node:assert/strict'
import fc from 'fast-check'
import type { Decoded } from '../../src/membership/announcement.js'

// Helpers shared by the fast-check fuzz suites (test/unit/fuzz-*.test.ts): suite settings, the
// per-call time bound, near-miss generators and the byte and text edits that mutate valid input.

/** The case count per decoder property (issue 7: at least 10,000). */
export const RUNS = 10_000
/** Far above one decode or parse of a small input (20–400 µs here); only a pathological input (a hang) gets near it. */
export const MAX_CALL_MS = 1_000

/**
 * Settings for a fuzz `describe` block; call it with the block's `this`. 10k cases take a few
 * seconds here, and the timeout leaves a margin for a loaded 2-core machine. mocha sets
 * Error.stackTraceLimit to Infinity, so every error a decoder creates (and rejected input creates
 * many) walks the whole fast-check stack: most of a suite's time, and not what a peer pays.
 * Node's default is restored for the fuzz runs.
 */
export function fuzzSuite (suite: Mocha.Suite): void {
  suite.timeout(60_000)
  let stackTraceLimit = Error.stackTraceLimit
  before(() => { stackTraceLimit = Error.stackTraceLimit; Error.stackTraceLimit = 10 })
  after(() => { Error.stackTraceLimit = stackTraceLimit })
}

export const encoder = new TextEncoder()
export const json = (value: unknown): Uint8Array => encoder.encode(JSON.stringify(value))
export const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex').slice(0, 400)
/** Through JSON: fast-check builds records without a prototype, while decoded objects (and yaml's input) want plain ones. */
export const throughJson = <T>(value: T): T => JSON.parse(JSON.stringify(value))

/** assert.ok with a message built only on failure: templates with hex dumps cost more than the decodes. */
export function check (condition: boolean, message: () => string): asserts condition {
  if (!condition) assert.fail(message())
}

/**
 * Runs `call` and returns what it returns, failing with `slow(ms)` when it takes MAX_CALL_MS or more.
 * A slow call is timed again: a GC pause or a busy machine passes the second time, a pathological input does not.
 */
export function timeBounded<T> (call: () => T, slow: (ms: number) => string): T {
  const timed = (): [T, number] => {
    const started = performance.now()
    const result = call()
    return [result, performance.now() - started]
  }
  let [result, ms] = timed()
  if (ms >= MAX_CALL_MS) [result, ms] = timed()
  if (ms >= MAX_CALL_MS) assert.fail(slow(Math.round(ms)))
  return result
}

/**
 * One decoder on one input: it returns a Decoded within the time bound (never throws), and a
 * rejection's reason matches `reasons` (a prefix such as `malformed: `, then the detail).
 */
export function decodeChecked<T> (name: string, decode: () => Decoded<T>, bytes: Uint8Array, reasons: RegExp): Decoded<T> {
  const result: Decoded<T> | undefined = timeBounded(() => {
    try {
      return decode()
    } catch (err) {
      assert.fail(`${name} threw ${String(err)} on ${hex(bytes)}`)
    }
  }, ms => `${name} took ${ms} ms twice on ${bytes.byteLength} bytes: ${hex(bytes)}`)
  check(result != null && typeof result.ok === 'boolean', () => `${name} returned ${String(result)}`)
  if (!result.ok) check(reasons.test(result.reason), () => `${name}: unexpected reason ${result.reason} on ${hex(bytes)}`)
  return result
}

// ---- near misses ----

/**
 * Any JSON value, shallow: fc.jsonValue costs ~100 µs a sample, too slow for 10k runs of several
 * fields. `extra` values join the scalars (a suite's own awkward cases); `keyLength` bounds the
 * object keys.
 */
export function shallowJson (extra: Array<fc.Arbitrary<unknown>> = [], keyLength = 4): fc.Arbitrary<unknown> {
  return fc.oneof(
    fc.constant(null), fc.boolean(), fc.integer(), fc.double(), fc.string({ maxLength: 8 }), ...extra,
    fc.array(fc.oneof(fc.integer(), fc.string({ maxLength: 4 })), { maxLength: 3 }),
    fc.dictionary(fc.string({ maxLength: keyLength }), fc.oneof(fc.integer(), fc.string({ maxLength: 4 })), { maxKeys: 3 })
  )
}

/**
 * Each field of a valid object kept, dropped, or replaced by `other`: near misses reach every
 * schema branch. Kept with weight 2n against 2 for n fields: about a third of the objects stay
 * valid, the rest break ~1 field.
 */
export function nearMiss (valid: fc.Arbitrary<object>, other: fc.Arbitrary<unknown>): fc.Arbitrary<Record<string, unknown>> {
  return valid.chain(value => {
    const fields = Object.entries(value)
    const keep = 2 * Math.max(1, fields.length)
    return fc.record(Object.fromEntries(fields.map(([k, v]) => [k, fc.oneof({ weight: keep, arbitrary: fc.constant(v) }, { weight: 1, arbitrary: other }, { weight: 1, arbitrary: fc.constant(undefined) })])))
  })
}

// ---- byte edits: what a buggy or hostile peer produces ----

/** Byte-level edits; `tokens` are the strings (as UTF-8) an insert may choose besides random bytes. */
export function byteEdit (tokens: readonly string[]) {
  return fc.oneof(
    fc.record({ op: fc.constant('set' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
    fc.record({ op: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
    fc.record({ op: fc.constant('insert' as const), at: fc.nat(), bytes: fc.oneof(fc.uint8Array({ minLength: 1, maxLength: 4 }), fc.constantFrom(...tokens.map(s => encoder.encode(s)))) }),
    fc.record({ op: fc.constant('delete' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 16 }) }),
    fc.record({ op: fc.constant('duplicate' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 32 }), to: fc.nat() }),
    fc.record({ op: fc.constant('truncate' as const), at: fc.nat() }),
    // Keeps the JSON well-formed, so the schema (not the JSON parser) decides: the accept path gets exercised.
    fc.record({ op: fc.constant('digit' as const), at: fc.nat(), digit: fc.integer({ min: 0, max: 9 }) })
  )
}
export type ByteEdit = ReturnType<typeof byteEdit> extends fc.Arbitrary<infer E> ? E : never

export function applyByteEdits (original: Uint8Array, edits: ByteEdit[]): Uint8Array {
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

/** Valid encodings with 1 to `maxEdits` byte edits applied. */
export function mutatedBytes (valid: fc.Arbitrary<Uint8Array>, tokens: readonly string[], maxEdits: number): fc.Arbitrary<Uint8Array> {
  return fc.tuple(valid, fc.array(byteEdit(tokens), { minLength: 1, maxLength: maxEdits })).map(([bytes, edits]) => applyByteEdits(bytes, edits))
}

// ---- text edits: what people (and editors) make ----

/** Text edits: stray tokens, lost lines, broken indentation; `tokens` are what an insert or replace may put in. */
export function textEdit (tokens: readonly string[]) {
  return fc.oneof(
    fc.record({ op: fc.constant('insert' as const), at: fc.nat(), text: fc.oneof(fc.constantFrom(...tokens), fc.string({ minLength: 1, maxLength: 3 })) }),
    fc.record({ op: fc.constant('delete' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 12 }) }),
    fc.record({ op: fc.constant('replace' as const), at: fc.nat(), text: fc.constantFrom(...tokens) }),
    fc.record({ op: fc.constant('duplicateLine' as const), line: fc.nat() }),
    fc.record({ op: fc.constant('swapLines' as const), a: fc.nat(), b: fc.nat() }),
    fc.record({ op: fc.constant('indent' as const), line: fc.nat(), by: fc.integer({ min: -4, max: 4 }) }),
    fc.record({ op: fc.constant('truncate' as const), at: fc.nat() })
  )
}
export type TextEdit = ReturnType<typeof textEdit> extends fc.Arbitrary<infer E> ? E : never

export function applyTextEdits (original: string, edits: TextEdit[]): string {
  let text = original
  for (const e of edits) {
    const lines = text.split('\n')
    if (e.op === 'insert') { const at = e.at % (text.length + 1); text = text.slice(0, at) + e.text + text.slice(at) }
    else if (e.op === 'delete') { const at = e.at % (text.length + 1); text = text.slice(0, at) + text.slice(at + e.length) }
    else if (e.op === 'replace') { const at = e.at % (text.length + 1); text = text.slice(0, at) + e.text + text.slice(at + 1) }
    else if (e.op === 'duplicateLine') { const i = e.line % lines.length; lines.splice(i, 0, lines[i] ?? ''); text = lines.join('\n') }
    else if (e.op === 'swapLines') { const a = e.a % lines.length; const b = e.b % lines.length; [lines[a], lines[b]] = [lines[b] ?? '', lines[a] ?? '']; text = lines.join('\n') }
    else if (e.op === 'indent') { const i = e.line % lines.length; const l = lines[i] ?? ''; lines[i] = e.by >= 0 ? ' '.repeat(e.by) + l : l.replace(new RegExp(`^ {0,${-e.by}}`), ''); text = lines.join('\n') }
    else if (e.op === 'truncate') text = text.slice(0, e.at % (text.length + 1))
  }
  return text
}

/** Valid texts with 1 to `maxEdits` text edits applied. */
export function mutatedText (valid: fc.Arbitrary<string>, tokens: readonly string[], maxEdits: number): fc.Arbitrary<string> {
  return fc.tuple(valid, fc.array(textEdit(tokens), { minLength: 1, maxLength: maxEdits })).map(([text, edits]) => applyTextEdits(text, edits))
}
