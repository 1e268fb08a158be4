import assert from 'node:assert/strict'
import { ask, createCluster, postJson, type ClusterNode } from '../helpers/cluster.js'
import { waitForView } from '../helpers/wait.js'

/** harombe_bounded_size by structure, from /metrics. */
async function sizes (node: ClusterNode): Promise<Map<string, number>> {
  const res = await fetch(`${node.api}/metrics`, { signal: AbortSignal.timeout(5_000) })
  assert.equal(res.status, 200)
  const out = new Map<string, number>()
  for (const m of (await res.text()).matchAll(/^harombe_bounded_size\{structure="([^"]+)"\} (\S+)$/gm)) out.set(m[1] as string, Number(m[2]))
  return out
}

describe('per-peer structures forget a peer that left (issue 25)', function () {
  this.timeout(60_000)
  const cluster = createCluster()
  afterEach(async () => { await cluster.stop() })

  it('should hold nothing about a serving peer once the view has removed it', async () => {
    const [a, b] = await cluster.start([{ name: 'a', backend: 'none' }, { name: 'b' }]) as [ClusterNode, ClusterNode]
    const answer = await postJson(`${a.api}/v1/chat/completions`, ask('hi'))
    assert.equal(answer.status, 200)
    assert.equal(answer.headers.get('x-harombe-node'), 'b')
    const held = await sizes(a)
    // What the test watches is really filled first (RTTs come with probes, whenever one is due: not checked here).
    for (const name of ['completion.trailer-load', 'completion.peer-ids']) assert.equal(held.get(name), 1, `${name} holds b`)
    assert.equal(held.get('membership.members'), 2)

    await b.peer.stop()
    // Left, then removed after the test profile's retention (10 s).
    await waitForView(a.peer, view => !view.peers.some(p => p.peer_id === b.id), 30_000, 'b removed from a\'s view')
    const after = await sizes(a)
    assert.equal(after.get('membership.members'), 1, 'only a itself')
    for (const name of ['completion.trailer-load', 'completion.peer-ids', 'membership.rtt', 'membership.stored-addrs', 'routing.breakers', 'routing.in-flight']) {
      assert.equal(after.get(name), 0, `${name} forgot b`)
    }
  })
})
