import assert from 'node:assert/strict'
import { BoundedRegistry } from '../../src/util/bounded-registry.js'

describe('BoundedRegistry', () => {
  it('reads each structure\'s size at read time, with its limit', () => {
    const registry = new BoundedRegistry()
    const entries = new Map<string, number>()
    registry.register({ name: 'test.entries', limit: 3, size: () => entries.size })
    assert.deepEqual(registry.read(), [{ name: 'test.entries', size: 0, limit: 3 }])
    entries.set('a', 1).set('b', 2)
    assert.deepEqual(registry.read(), [{ name: 'test.entries', size: 2, limit: 3 }])
  })

  it('replaces a structure registered again under its name, and forgets one unregistered', () => {
    const registry = new BoundedRegistry()
    registry.register({ name: 'test.queue', limit: 1, size: () => 1 })
    registry.register({ name: 'test.queue', limit: 8, size: () => 5 })
    registry.register({ name: 'test.other', limit: 2, size: () => 0 })
    assert.deepEqual(registry.read().map(r => [r.name, r.size, r.limit]), [['test.queue', 5, 8], ['test.other', 0, 2]])
    registry.unregister('test.queue')
    assert.deepEqual(registry.read().map(r => r.name), ['test.other'])
  })
})
