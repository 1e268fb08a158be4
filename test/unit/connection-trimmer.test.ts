import assert from 'node:assert/strict'
import { connectionsToClose, type PeerConnectionState } from '../../src/mesh/connection-trimmer.js'

// Small numbers so the rule reads plainly: bound 2, idle after 100 ms, decided at t = 1 000.
const MAX = 2
const IDLE_MS = 100
const NOW = 1_000

/** A peer connected at `openedAt`, last used at `lastUsedAt` (absent: never), neither busy nor pinned unless said. */
function peer (peerId: string, fields: Partial<Omit<PeerConnectionState, 'peerId'>> = {}): PeerConnectionState {
  return { peerId, openedAt: 0, busy: false, pinned: false, ...fields }
}

interface Row {
  name: string
  conns: PeerConnectionState[]
  max?: number
  /** Peers to close, in the order the rule picks them. */
  close: string[]
}

describe('connectionsToClose', () => {
  const rows: Row[] = [
    { name: 'close nothing with no connections', conns: [], close: [] },
    { name: 'close nothing at the bound', conns: [peer('a'), peer('b')], close: [] },
    { name: 'close the one extra idle peer above the bound', conns: [peer('a', { lastUsedAt: 10 }), peer('b', { lastUsedAt: 20 }), peer('c', { lastUsedAt: 30 })], close: ['a'] },
    { name: 'close only down to the bound, least recently used first', conns: [peer('a', { lastUsedAt: 500 }), peer('b', { lastUsedAt: 100 }), peer('c', { lastUsedAt: 300 }), peer('d', { lastUsedAt: 200 })], close: ['b', 'd'] },
    { name: 'never close a busy peer, however old its last use', conns: [peer('a', { lastUsedAt: 10, busy: true }), peer('b', { lastUsedAt: 20 }), peer('c', { lastUsedAt: 30 })], close: ['b'] },
    { name: 'never close a pinned (bootstrap) peer', conns: [peer('a', { pinned: true }), peer('b', { lastUsedAt: 20 }), peer('c', { lastUsedAt: 30 })], close: ['b'] },
    { name: 'never close a peer used within idleMs', conns: [peer('a', { lastUsedAt: NOW - IDLE_MS + 1 }), peer('b', { lastUsedAt: NOW - 50 }), peer('c', { lastUsedAt: 30 })], close: ['c'] },
    { name: 'close a peer idle exactly idleMs', conns: [peer('a', { lastUsedAt: NOW - IDLE_MS }), peer('b', { lastUsedAt: NOW }), peer('c', { lastUsedAt: NOW })], close: ['a'] },
    { name: 'count a fresh connection as used (opened within idleMs, never used)', conns: [peer('a', { openedAt: NOW - 10 }), peer('b', { lastUsedAt: 20 }), peer('c', { lastUsedAt: 30 })], close: ['b'] },
    { name: 'count a reopened connection as used even when its last use was long ago', conns: [peer('a', { openedAt: NOW - 10, lastUsedAt: 5 }), peer('b', { lastUsedAt: 20 }), peer('c', { lastUsedAt: 30 })], close: ['b'] },
    { name: 'order a never-used peer by its opening', conns: [peer('a', { openedAt: 400 }), peer('b', { openedAt: 100 }), peer('c', { lastUsedAt: 200 })], close: ['b'] },
    { name: 'break ties by peer id', conns: [peer('c', { lastUsedAt: 10 }), peer('a', { lastUsedAt: 10 }), peer('b', { lastUsedAt: 10 })], close: ['a'] },
    { name: 'stay above the bound when too few peers qualify', conns: [peer('a', { busy: true }), peer('b', { pinned: true }), peer('c', { lastUsedAt: NOW }), peer('d', { lastUsedAt: 10 })], close: ['d'] },
    { name: 'close nothing when every peer is busy, pinned or recent', conns: [peer('a', { busy: true }), peer('b', { pinned: true }), peer('c', { lastUsedAt: NOW })], close: [] },
    { name: 'count busy and pinned peers against the bound', conns: [peer('a', { busy: true }), peer('b', { pinned: true }), peer('c', { lastUsedAt: 10 }), peer('d', { lastUsedAt: 20 })], close: ['c', 'd'] },
    { name: 'close every idle peer at a bound of 0', max: 0, conns: [peer('a', { lastUsedAt: 20 }), peer('b', { lastUsedAt: 10 }), peer('c', { busy: true })], close: ['b', 'a'] }
  ]

  for (const row of rows) {
    it(`should ${row.name}`, () => {
      assert.deepEqual(connectionsToClose(row.conns, row.max ?? MAX, NOW, IDLE_MS), row.close)
    })
  }

  it('should not reorder or change its input', () => {
    const conns = [peer('a', { lastUsedAt: 30 }), peer('b', { lastUsedAt: 10 }), peer('c', { lastUsedAt: 20 })]
    const before = structuredClone(conns)
    connectionsToClose(conns, 1, NOW, IDLE_MS)
    assert.deepEqual(conns, before)
  })
})
