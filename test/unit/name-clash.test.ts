import assert from 'node:assert/strict'
import { distinctName, type NameHolder } from '../../src/membership/name-clash.js'
import { nameClashes } from '../../src/cli/status.js'

// Issue 27: two peers started without --name on one host were both "vm" in the mesh. The one that
// started later takes the first free "vm-N" and says so; status shows the clash.

const m = (peerId: string, name: string, incarnation: number, state: NameHolder['state'] = 'alive'): NameHolder => ({ peerId, name, incarnation, state })

describe('distinctName', () => {
  const cases: Array<{ title: string, self: NameHolder, members: NameHolder[], expected: string | undefined }> = [
    { title: 'no other peer', self: m('B', 'vm', 2), members: [m('B', 'vm', 2)], expected: undefined },
    { title: 'other names only', self: m('B', 'vm', 2), members: [m('A', 'laptop', 1), m('B', 'vm', 2)], expected: undefined },
    { title: 'the same name, held by one that started earlier', self: m('B', 'vm', 2), members: [m('A', 'vm', 1), m('B', 'vm', 2)], expected: 'vm-2' },
    { title: 'the same name, we started first (the other yields)', self: m('A', 'vm', 1), members: [m('A', 'vm', 1), m('B', 'vm', 2)], expected: undefined },
    { title: 'the same start time: the larger peer id yields', self: m('B', 'vm', 1), members: [m('A', 'vm', 1)], expected: 'vm-2' },
    { title: 'the same start time, we have the smaller id', self: m('A', 'vm', 1), members: [m('B', 'vm', 1)], expected: undefined },
    { title: 'vm-2 is taken too', self: m('C', 'vm', 3), members: [m('A', 'vm', 1), m('B', 'vm-2', 2)], expected: 'vm-3' },
    { title: 'the holder is dead: its name is free', self: m('B', 'vm', 2), members: [m('A', 'vm', 1, 'dead')], expected: undefined },
    { title: 'the holder left: its name is free', self: m('B', 'vm', 2), members: [m('A', 'vm', 1, 'left')], expected: undefined },
    { title: 'the holder is suspect: it still holds it', self: m('B', 'vm', 2), members: [m('A', 'vm', 1, 'suspect')], expected: 'vm-2' },
    { title: 'a dead vm-2 does not block vm-2', self: m('C', 'vm', 3), members: [m('A', 'vm', 1), m('B', 'vm-2', 2, 'dead')], expected: 'vm-2' }
  ]
  for (const c of cases) {
    it(`should give ${String(c.expected)} for ${c.title}`, () => {
      assert.equal(distinctName(c.self, c.members), c.expected)
    })
  }
})

describe('nameClashes (status)', () => {
  const A = '12D3KooWAaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa1'
  const B = '12D3KooWBbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb2'
  const peer = (peer_id: string, name: string, wanted_name: string | null = null, state: 'alive' | 'dead' = 'alive'): { peer_id: string, name: string, wanted_name: string | null, state: 'alive' | 'dead' } => ({ peer_id, name, wanted_name, state })

  it('should name a peer that took another name, and who holds its own', () => {
    assert.deepEqual(nameClashes([peer(A, 'vm'), peer(B, 'vm-2', 'vm')]), ['vm-2 (12D3…bbbbb2) was started as "vm", which 12D3…aaaaa1 holds'])
  })

  it('should name two live peers announcing one name', () => {
    assert.deepEqual(nameClashes([peer(A, 'vm'), peer(B, 'vm')]), ['"vm" is announced by 2 peers (12D3…aaaaa1, 12D3…bbbbb2)'])
  })

  it('should say nothing for distinct names or a dead namesake', () => {
    assert.deepEqual(nameClashes([peer(A, 'vm'), peer(B, 'laptop')]), [])
    assert.deepEqual(nameClashes([peer(A, 'vm', null, 'dead'), peer(B, 'vm')]), [])
  })
})
