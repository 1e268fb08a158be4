import assert from 'node:assert/strict'
import { BroadcastQueue } from '../../src/membership/broadcasts.js'
import type { Update } from '../../src/membership/messages.js'

const suspect = (peer: string, seq = 1): Update => ({ type: 'suspect', peer_id: peer, incarnation: 1, seq, from: 'me' })

describe('broadcast queue (transmit-limited dissemination)', () => {
  const limits: Array<{ n: number, mult: number, expected: number }> = [
    { n: 1, mult: 4, expected: 4 },
    { n: 9, mult: 4, expected: 4 },
    { n: 10, mult: 4, expected: 8 },
    { n: 99, mult: 4, expected: 8 },
    { n: 100, mult: 4, expected: 12 },
    { n: 1_000, mult: 4, expected: 16 },
    { n: 0, mult: 3, expected: 3 }
  ]
  for (const row of limits) {
    it(`should send each update ${row.expected} times at N = ${row.n} (mult ${row.mult})`, () => {
      const queue = new BroadcastQueue(row.mult)
      queue.enqueue(suspect('a'))
      let sent = 0
      while (queue.take(8, row.n).length > 0) sent++
      assert.equal(sent, row.expected)
      assert.equal(queue.size, 0)
    })
  }

  it('should queue at most its limit of subjects, dropping the one queued longest ago', () => {
    const queue = new BroadcastQueue(4, 3)
    for (const peer of ['a', 'b', 'c']) queue.enqueue(suspect(peer))
    queue.enqueue(suspect('a', 2))
    queue.enqueue(suspect('d'))
    assert.equal(queue.size, 3, 'never past the bound')
    assert.equal(queue.has('b'), false, 'b was queued longest ago (a was queued again since)')
    assert.deepEqual(['a', 'c', 'd'].map(p => queue.has(p)), [true, true, true])
    for (let i = 0; i < 20; i++) queue.enqueue(suspect(`x${i}`))
    assert.equal(queue.size, 3)
  })

  it('should send nothing when nothing changed', () => {
    assert.deepEqual(new BroadcastQueue(4).take(8, 10), [])
  })

  it('should keep only the newest update about a peer', () => {
    const queue = new BroadcastQueue(4)
    queue.enqueue(suspect('a', 1))
    queue.enqueue(suspect('a', 2))
    assert.deepEqual(queue.take(8, 3), [suspect('a', 2)])
  })

  it('should send the least-sent updates first, newest first among equals, at most max per message', () => {
    const queue = new BroadcastQueue(4)
    queue.enqueue(suspect('a'))
    assert.deepEqual(queue.take(1, 3).map(u => (u as any).peer_id), ['a'])
    queue.enqueue(suspect('b'))
    queue.enqueue(suspect('c'))
    assert.deepEqual(queue.take(2, 3).map(u => (u as any).peer_id), ['c', 'b'])
    assert.deepEqual(queue.take(3, 3).map(u => (u as any).peer_id), ['c', 'b', 'a'])
  })

  it('should forget a peer removed from the view', () => {
    const queue = new BroadcastQueue(4)
    queue.enqueue(suspect('a'))
    queue.forget('a')
    assert.equal(queue.size, 0)
  })
})
