import assert from 'node:assert/strict'
import { connectionUse, connectionUses, MAX_CONNECTION_USES, whileUsingConnection } from '../../src/mesh/connection-use.js'
import type { MeshNode } from '../../src/mesh/node.js'

describe('connection use records (mesh.connection-use)', () => {
  it('should remember at most MAX_CONNECTION_USES peers, dropping the oldest idle ones and never one with work running', async () => {
    // Only its identity is used: the records live in a WeakMap keyed by the node.
    const node = {} as MeshNode
    let release!: () => void
    const held = new Promise<void>(resolve => { release = resolve })
    // The very first record is busy for the whole test: it must survive every eviction.
    const busy = whileUsingConnection(node, 'busy', async () => await held)
    for (let i = 0; i < MAX_CONNECTION_USES + 50; i++) {
      await whileUsingConnection(node, `peer-${i}`, async () => {})
      assert.ok(connectionUses(node) <= MAX_CONNECTION_USES, `${connectionUses(node)} records`)
    }
    assert.equal(connectionUses(node), MAX_CONNECTION_USES)
    assert.equal(connectionUse(node, 'busy')?.active, 1, 'work running: kept')
    assert.equal(connectionUse(node, 'peer-0'), undefined, 'the oldest idle record went first')
    assert.ok(connectionUse(node, `peer-${MAX_CONNECTION_USES + 49}`) != null, 'the newest is kept')
    release()
    await busy
  })
})
