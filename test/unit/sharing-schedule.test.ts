import assert from 'node:assert/strict'
import { afterOutcome, assign, compareSources, median, resumePlan, type ChunkState, type SchedulePolicy, type SourceState } from '../../src/sharing/schedule.js'
import { delayFor } from '../../src/sharing/upload-limits.js'

const policy: SchedulePolicy = { maxPerSource: 2, maxTotal: 16, maxFailures: 3, slowFactor: 4, slowFloorMs: 5_000 }

const src = (id: string, over: Partial<SourceState> = {}): SourceState => ({ id, inFlight: 0, load: 0, failures: 0, mismatches: 0, busyUntil: 0, ...over })
const missing = (...indices: number[]): ChunkState[] => indices.map(index => ({ index, status: 'missing', attempts: [] }))
const inflight = (index: number, source: string, startedAt: number): ChunkState => ({ index, status: 'inflight', attempts: [{ source, startedAt }] })
const pairs = (out: ReturnType<typeof assign>): string[] => out.map(a => `${a.index}→${a.source}${a.duplicate ? '*' : ''}`)

describe('sharing schedule: which source gets which chunk', () => {
  const cases: Array<{ name: string, chunks: ChunkState[], sources: SourceState[], now?: number, median?: number, policy?: Partial<SchedulePolicy>, expected: string[] }> = [
    { name: 'spreads chunks over idle sources, least loaded first, lowest index first', chunks: missing(0, 1, 2, 3, 4), sources: [src('a'), src('b')], expected: ['0→a', '1→b', '2→a', '3→b'] },
    { name: 'prefers the source with less announced load', chunks: missing(0, 1), sources: [src('a', { load: 0.9 }), src('b')], expected: ['0→b', '1→a'] },
    { name: 'puts a penalised source after clean ones', chunks: missing(0, 1, 2), sources: [src('a', { failures: 1 }), src('b')], expected: ['0→b', '1→b', '2→a'] },
    { name: 'gives an excluded source nothing', chunks: missing(0, 1, 2), sources: [src('a', { failures: 3 }), src('b')], expected: ['0→b', '1→b'] },
    { name: 'skips a source backing off after busy', chunks: missing(0), sources: [src('a', { busyUntil: 2_000 }), src('b', { inFlight: 1 })], now: 1_000, expected: ['0→b'] },
    { name: 'stops at the total in-flight bound', chunks: missing(0, 1, 2), sources: [src('a'), src('b')], policy: { maxTotal: 1 }, expected: ['0→a'] },
    { name: 'assigns nothing when every source is full', chunks: missing(0), sources: [src('a', { inFlight: 2 })], expected: [] },
    { name: 'duplicates a chunk slow on its source to an idle one', chunks: [inflight(0, 'a', 0), { index: 1, status: 'done', attempts: [] }], sources: [src('a', { inFlight: 1 }), src('b')], now: 10_000, median: 1_000, expected: ['0→b*'] },
    { name: 'does not duplicate before slowFactor × median', chunks: [inflight(0, 'a', 0)], sources: [src('a', { inFlight: 1 }), src('b')], now: 3_000, median: 1_000, policy: { slowFloorMs: 0 }, expected: [] },
    { name: 'uses the floor before any chunk finished', chunks: [inflight(0, 'a', 0)], sources: [src('a', { inFlight: 1 }), src('b')], now: 5_001, expected: ['0→b*'] },
    { name: 'never duplicates onto the slow source itself', chunks: [inflight(0, 'a', 0)], sources: [src('a', { inFlight: 1 })], now: 60_000, expected: [] },
    { name: 'missing chunks go before duplicates', chunks: [inflight(0, 'a', 0), ...missing(1)], sources: [src('a', { inFlight: 2 }), src('b', { inFlight: 1 })], now: 60_000, expected: ['1→b'] }
  ]
  for (const c of cases) {
    it(`should ${c.name}`, () => {
      assert.deepEqual(pairs(assign(c.chunks, c.sources, c.now ?? 0, c.median, { ...policy, ...c.policy })), c.expected)
    })
  }

  it('should not change the states it was given', () => {
    const sources = [src('a')]
    assign(missing(0, 1), sources, 0, undefined, policy)
    assert.equal(sources[0]?.inFlight, 0)
  })

  it('should order sources: clean before penalised, then load, then failures, then id', () => {
    const sorted = [src('d', { failures: 1 }), src('c', { inFlight: 1 }), src('b'), src('a', { load: 0.5 })].sort(compareSources).map(s => s.id)
    assert.deepEqual(sorted, ['b', 'a', 'c', 'd'])
  })
})

describe('sharing schedule: what an outcome costs a source', () => {
  const cases: Array<{ outcome: Parameters<typeof afterOutcome>[1], expected: Partial<SourceState> }> = [
    { outcome: 'ok', expected: { inFlight: 0, failures: 0, mismatches: 0, busyUntil: 0 } },
    { outcome: 'failed', expected: { inFlight: 0, failures: 1, mismatches: 0, failedAt: 1_000, busyUntil: 2_000 } },
    { outcome: 'mismatch', expected: { inFlight: 0, failures: 2, mismatches: 1 } },
    { outcome: 'busy', expected: { inFlight: 0, failures: 0, busyUntil: 1_500 } }
  ]
  for (const c of cases) {
    it(`should account for ${c.outcome}`, () => {
      const after = afterOutcome(src('a', { inFlight: 1 }), c.outcome, 1_000)
      for (const [key, value] of Object.entries(c.expected)) assert.equal(after[key as keyof SourceState], value, key)
    })
  }
  it('should count failures within one window once (a dropped connection fails all its chunks at once)', () => {
    const once = afterOutcome(afterOutcome(src('a', { inFlight: 4 }), 'failed', 1_000), 'failed', 1_100)
    assert.deepEqual([once.failures, once.inFlight], [1, 2])
    assert.equal(afterOutcome(once, 'failed', 2_000).failures, 2)
  })

  it('should exclude a source after two bad chunks', () => {
    const after = afterOutcome(afterOutcome(src('a', { inFlight: 2 }), 'mismatch', 0), 'mismatch', 0)
    assert.deepEqual(pairs(assign(missing(0), [after], 0, undefined, policy)), [])
  })
})

describe('sharing schedule: resume plan and median', () => {
  it('should keep chunks whose hash matches and fetch the rest', () => {
    assert.deepEqual(resumePlan(['h0', 'h1', 'h2', 'h3'], ['h0', 'zz', 'h2']), { done: [0, 2], missing: [1, 3] })
    assert.deepEqual(resumePlan(['h0'], []), { done: [], missing: [0] })
  })
  it('should take the median of odd, even and empty lists', () => {
    assert.equal(median([3, 1, 2]), 2)
    assert.equal(median([4, 1, 2, 3]), 2.5)
    assert.equal(median([]), undefined)
  })
})

describe('upload pacing (--share-rate)', () => {
  const rate = 1_000_000 // 1 MB/s: 1 byte per µs, 1,000 bytes per ms
  const cases: Array<{ name: string, nextFree: number, now: number, bytes: number, wait: number, next: number }> = [
    { name: 'sends at once within the burst', nextFree: 0, now: 10_000, bytes: 50_000, wait: 0, next: 10_050 },
    { name: 'waits once the burst is spent', nextFree: 10_100, now: 10_000, bytes: 100_000, wait: 100, next: 10_200 },
    { name: 'banks no credit while idle', nextFree: 0, now: 50_000, bytes: 200_000, wait: 100, next: 50_200 }
  ]
  for (const c of cases) {
    it(`should pace: ${c.name}`, () => {
      assert.deepEqual(delayFor(c.nextFree, c.now, c.bytes, rate, 100), { waitMs: c.wait, nextFree: c.next })
    })
  }
})
