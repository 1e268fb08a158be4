import assert from 'node:assert/strict'
import { echoDue, median, nextEstimate, RTT_WINDOW, RttTable } from '../../src/membership/rtt.js'

describe('round-trip estimates', () => {
  it('should follow RFC 6298: the first sample sets SRTT and half of it as RTTVAR, then α = 1/8 and β = 1/4', () => {
    const first = nextEstimate(undefined, 0.4)
    assert.deepEqual([first.srtt, first.rttvar, first.samples], [0.4, 0.2, 1])
    const second = nextEstimate(first, 1.2)
    const close = (a: number, b: number): boolean => Math.abs(a - b) < 1e-12
    assert.ok(close(second.rttvar, 0.35), `rttvar ${second.rttvar}`)
    assert.ok(close(second.srtt, 0.5), `srtt ${second.srtt}`)
  })

  const cases: Array<{ why: string, samples: number[], p50: number }> = [
    { why: 'one sample', samples: [0.3], p50: 0.3 },
    { why: 'an odd count', samples: [0.5, 0.1, 0.3], p50: 0.3 },
    { why: 'an even count', samples: [0.4, 0.2], p50: 0.30000000000000004 },
    { why: 'one slow answer among fast ones', samples: [0.3, 0.3, 0.3, 40, 0.3], p50: 0.3 }
  ]
  for (const c of cases) {
    it(`should take the median of ${c.why}`, () => {
      assert.equal(median(c.samples), c.p50)
    })
  }

  it('should keep only the last RTT_WINDOW samples for the median, and drop a peer on delete', () => {
    const table = new RttTable()
    for (let i = 0; i < RTT_WINDOW; i++) table.add('p', 50)
    for (let i = 0; i < RTT_WINDOW; i++) table.add('p', 0.5)
    assert.equal(table.get('p')?.p50Ms, 0.5, 'old samples left the window')
    assert.equal(table.get('p')?.samples, 2 * RTT_WINDOW)
    assert.ok((table.smoothed().get('p') ?? 0) > 0.5, 'the smoothed RTT still remembers')
    table.add('p', Number.NaN)
    table.add('p', -1)
    assert.equal(table.get('p')?.samples, 2 * RTT_WINDOW, 'nonsense samples are ignored')
    table.delete('p')
    assert.equal(table.get('p'), undefined)
    assert.equal(table.smoothed().has('p'), false)
  })

  it('should track at most its limit of members, the first one heard dropped first', () => {
    const table = new RttTable(3)
    for (const peer of ['a', 'b', 'c']) table.add(peer, 1)
    table.add('a', 2)
    assert.equal(table.size, 3)
    table.add('d', 1)
    assert.equal(table.size, 3, 'never past the bound')
    assert.equal(table.get('a'), undefined, 'a was first added: it goes')
    assert.equal(table.smoothed().has('a'), false, 'from both maps')
    assert.deepEqual([...table.smoothed().keys()].sort(), ['b', 'c', 'd'])
    for (let i = 0; i < 20; i++) table.add(`x${i}`, 1)
    assert.equal(table.size, 3)
    assert.equal(table.smoothed().size, 3)
  })

  const echoCases: Array<{ why: string, lastEchoAt: number | undefined, now: number, intervalMs: number, due: boolean }> = [
    { why: 'a member never echoed', lastEchoAt: undefined, now: 1_000, intervalMs: 5_000, due: true },
    { why: 'a member echoed 2 s ago, 5 s interval', lastEchoAt: 8_000, now: 10_000, intervalMs: 5_000, due: false },
    { why: 'a member echoed just under the interval ago', lastEchoAt: 5_001, now: 10_000, intervalMs: 5_000, due: false },
    { why: 'a member echoed exactly the interval ago', lastEchoAt: 5_000, now: 10_000, intervalMs: 5_000, due: true },
    { why: 'an interval of 0 (every answered probe)', lastEchoAt: 10_000, now: 10_000, intervalMs: 0, due: true }
  ]
  for (const c of echoCases) {
    it(`should ${c.due ? '' : 'not '}echo after a probe of ${c.why}`, () => {
      assert.equal(echoDue(c.lastEchoAt, c.now, c.intervalMs), c.due)
    })
  }
})
