import assert from 'node:assert/strict'
import { once } from 'node:events'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createPeer, type Peer } from '../../src/peer.js'
import { createSyntheticBackend } from '../../src/backends/synthetic.js'
import { waitForView } from '../helpers/wait.js'
import { statusExitCode } from '../../src/cli/status.js'

// The seed's test_disabled_nodes_not_registered, for a mesh: a node the cluster file switches off
// is shown as disabled, its API is never asked, and nothing is routed to it even when it is in the
// mesh announcing itself enabled (started without the file).
describe('a cluster-file node with enabled: false', function () {
  this.timeout(20_000)
  let dir: string
  let api: Server
  let apiRequests = 0
  const peers: Peer[] = []

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'harombe-disabled-'))
    api = createServer((_req, res) => { apiRequests++; res.statusCode = 500; res.end() })
    api.listen(0, '127.0.0.1')
    await once(api, 'listening')
  })
  after(async () => {
    await Promise.all(peers.map(async p => { await p.stop().catch(() => {}) }))
    api.close()
    await rm(dir, { recursive: true, force: true })
  })

  it('should be shown disabled, never polled, never routed to, and not fail status', async () => {
    const common = { apiPort: 0, listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, profile: 'test' as const }
    const a = createPeer({
      ...common,
      name: 'a',
      dataDir: join(dir, 'a'),
      listedNodes: [
        { name: 'a', host: '127.0.0.1', port: 1, models: [], tier: 0 },
        { name: 'b', host: '127.0.0.1', port: (api.address() as AddressInfo).port, models: ['m'], tier: 1, enabled: false }
      ]
    })
    peers.push(a)
    await a.start()
    const b = createPeer({ ...common, name: 'b', dataDir: join(dir, 'b'), backend: createSyntheticBackend({ models: ['m'] }), bootstrap: [a.info().meshAddrs[0] ?? ''] })
    peers.push(b)
    await b.start()
    await waitForView(a, cl => cl.peers.some(p => p.name === 'b' && p.state === 'alive' && p.enabled && p.models.includes('m')), 5_000, 'b alive and announcing m')

    const cluster = a.cluster()
    assert.deepEqual(cluster.nodes.map(n => [n.name, n.state]), [['a', 'alive'], ['b', 'disabled']])
    assert.equal(statusExitCode(cluster), 0)
    await assert.rejects(
      a.completions().complete({ messages: [{ role: 'user', content: 'hi' }], model: 'm' }, { signal: AbortSignal.timeout(5_000) }),
      (err: Error) => err.name === 'NoPeerError'
    )
    // b itself still serves what it was asked directly: only a's file switches it off
    const direct = await b.completions().complete({ messages: [{ role: 'user', content: 'hi' }], model: 'm' }, { signal: AbortSignal.timeout(5_000) })
    assert.equal(direct.node.name, 'b')
    assert.equal(apiRequests, 0, 'a disabled node\'s API is never asked')
  })
})
