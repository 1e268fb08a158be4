import assert from 'node:assert/strict'
import { EMPTY_ORDER, nextProbeTarget, pickRandom, type ProbeOrder } from '../../src/membership/probe-order.js'
import { mulberry32 as createPrng } from '../../src/util/prng.js'

/** Runs `steps` probes over `members` (which may change per step) and returns the targets. */
function run (steps: number, members: (step: number) => string[], seed = 1): string[] {
  const random = createPrng(seed)
  let state: ProbeOrder = EMPTY_ORDER
  const out: string[] = []
  for (let i = 0; i < steps; i++) {
    const next = nextProbeTarget(state, members(i), random)
    state = next.state
    if (next.target != null) out.push(next.target)
  }
  return out
}

const sorted = (xs: string[]): string[] => [...xs].sort()

describe('probe order (SWIM round-robin over a shuffled list)', () => {
  const five = ['a', 'b', 'c', 'd', 'e']
  const rows: Array<{ name: string, steps: number, members: (step: number) => string[], check: (targets: string[]) => void }> = [
    {
      name: 'probe every member exactly once per round',
      steps: 15,
      members: () => five,
      check: t => {
        for (let round = 0; round < 3; round++) assert.deepEqual(sorted(t.slice(round * 5, round * 5 + 5)), five, `round ${round}`)
      }
    },
    {
      name: 'reshuffle between rounds (not the same order three times)',
      steps: 15,
      members: () => five,
      check: t => { assert.ok(new Set([t.slice(0, 5).join(), t.slice(5, 10).join(), t.slice(10, 15).join()]).size > 1, t.join()) }
    },
    {
      name: 'probe a member that joined mid-round within that round',
      steps: 6,
      members: step => step < 2 ? ['a', 'b', 'c'] : ['a', 'b', 'c', 'z'],
      check: t => { assert.deepEqual(sorted(t.slice(0, 4)), ['a', 'b', 'c', 'z']) }
    },
    {
      name: 'skip a member that left mid-round',
      steps: 4,
      members: step => step < 1 ? ['a', 'b', 'c'] : ['a', 'c'],
      check: t => { assert.ok(!t.slice(1).includes('b'), t.join()) }
    },
    {
      name: 'probe the only member every time',
      steps: 3,
      members: () => ['solo'],
      check: t => { assert.deepEqual(t, ['solo', 'solo', 'solo']) }
    },
    {
      name: 'probe no one in an empty cluster',
      steps: 3,
      members: () => [],
      check: t => { assert.deepEqual(t, []) }
    }
  ]
  for (const row of rows) {
    it(`should ${row.name}`, () => { row.check(run(row.steps, row.members)) })
  }

  it('should pick k distinct relays, never an excluded one, and all of them when fewer', () => {
    const random = createPrng(7)
    for (let i = 0; i < 50; i++) {
      const picked = pickRandom(five, 3, new Set(['c']), random)
      assert.equal(picked.length, 3)
      assert.equal(new Set(picked).size, 3)
      assert.ok(!picked.includes('c'))
    }
    assert.deepEqual(sorted(pickRandom(['a', 'b'], 3, new Set(), random)), ['a', 'b'])
  })
})
