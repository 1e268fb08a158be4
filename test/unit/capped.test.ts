import assert from 'node:assert/strict'
import { createOnce, trimOldest } from '../../src/util/capped.js'

describe('trimOldest', () => {
  const cases: Array<{ keys: string[], limit: number, dropped: string[], left: string[] }> = [
    { keys: [], limit: 2, dropped: [], left: [] },
    { keys: ['a', 'b'], limit: 2, dropped: [], left: ['a', 'b'] },
    { keys: ['a', 'b', 'c'], limit: 2, dropped: ['a'], left: ['b', 'c'] },
    { keys: ['a', 'b', 'c', 'd', 'e'], limit: 2, dropped: ['a', 'b', 'c'], left: ['d', 'e'] },
    { keys: ['a', 'b'], limit: 0, dropped: ['a', 'b'], left: [] }
  ]
  for (const c of cases) {
    it(`should keep the newest ${c.limit} of [${c.keys.join(',')}] in a Map and a Set`, () => {
      const map = new Map(c.keys.map(k => [k, 1]))
      assert.deepEqual(trimOldest(map, c.limit), c.dropped)
      assert.deepEqual([...map.keys()], c.left)
      const set = new Set(c.keys)
      assert.deepEqual(trimOldest(set, c.limit), c.dropped)
      assert.deepEqual([...set], c.left)
    })
  }
})

describe('createOnce (auto-dial key warnings, multi-backend model clashes)', () => {
  it('should say yes once per key, remember at most the bound, and push out the oldest', () => {
    const once = createOnce(3)
    assert.deepEqual(['a', 'b', 'a', 'c'].map(k => once.first(k)), [true, true, false, true])
    assert.equal(once.size, 3)
    assert.equal(once.first('d'), true)
    assert.equal(once.size, 3, 'never past the bound')
    assert.equal(once.first('a'), true, 'a, the oldest, was pushed out: said once more')
    assert.equal(once.first('d'), false)
    for (let i = 0; i < 100; i++) {
      once.first(`k${i}`)
      assert.ok(once.size <= 3)
    }
    once.forget('k99')
    assert.equal(once.first('k99'), true)
  })
})
