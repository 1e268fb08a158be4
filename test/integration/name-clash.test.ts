import assert from 'node:assert/strict'
import { createCluster, type Cluster } from '../helpers/cluster.js'
import { waitForView } from '../helpers/wait.js'

// Issue 27, item 5: a peer that joins under a name another live peer holds takes "<name>-2", and
// takes its own name back once the holder is gone (a machine restarted with a new identity
// before its old one was declared dead must not stay "laptop-2").

describe('two peers with one name', function () {
  this.timeout(30_000)
  let cluster: Cluster

  beforeEach(() => { cluster = createCluster() })
  afterEach(async () => { await cluster.stop() })

  it('should rename the later one in every view, and give it its name back when the holder leaves', async () => {
    const [first, second, third] = await cluster.start([{ name: 'vm', backend: 'none' }, { name: 'vm', backend: 'none' }, { name: 'other', backend: 'none' }])
    assert.ok(first != null && second != null && third != null)
    for (const node of [first, second, third]) {
      await waitForView(node.peer, c => c.peers.find(p => p.peer_id === second.id)?.name === 'vm-2', 10_000, `vm-2 in ${node.name}'s view`)
    }
    const seen = third.peer.cluster().peers.find(p => p.peer_id === second.id)
    assert.deepEqual([seen?.name, seen?.wanted_name], ['vm-2', 'vm'])
    assert.equal(third.peer.cluster().peers.find(p => p.peer_id === first.id)?.name, 'vm', 'the first keeps its name')
    assert.equal(second.peer.info().name, 'vm-2')

    await first.peer.stop()
    await waitForView(third.peer, c => {
      const p = c.peers.find(x => x.peer_id === second.id)
      return p?.name === 'vm' && p.wanted_name == null
    }, 10_000, 'the second peer back to vm')
    assert.equal(second.peer.info().name, 'vm')
  })
})
