import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createPeer, type Peer } from '../../src/peer.js'
import { waitForView } from '../helpers/wait.js'

describe('metrics and dashboard', function () {
  this.timeout(20_000)
  let root: string
  const peers: Peer[] = []

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'harombe-metrics-'))
    const a = createPeer({ name: 'a', token: 'secret', dataDir: join(root, 'a'), apiPort: 0, listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, profile: 'test' })
    peers.push(a)
    await a.start()
    const b = createPeer({ name: 'b', dataDir: join(root, 'b'), apiPort: 0, listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, profile: 'test', bootstrap: [a.info().meshAddrs[0] ?? ''] })
    peers.push(b)
    await b.start()
    await waitForView(a, cl => cl.peers.filter(p => p.state === 'alive').length === 2, 5_000, 'both alive')
  })
  after(async () => {
    await Promise.all(peers.map(async p => { await p.stop() }))
    await rm(root, { recursive: true, force: true })
  })

  it('should export the cluster view, mesh connections and HTTP requests in Prometheus format', async () => {
    const api = peers[0]?.info().apiUrl ?? ''
    const auth = { authorization: 'Bearer secret' }
    assert.equal((await fetch(`${api}/api/cluster`, { headers: auth })).status, 200)
    const res = await fetch(`${api}/metrics`, { headers: auth })
    assert.equal(res.status, 200)
    assert.match(res.headers.get('content-type') ?? '', /text\/plain/)
    const text = await res.text()
    assert.match(text, /^harombe_peers\{state="alive"\} 2$/m)
    assert.match(text, /^harombe_peers\{state="dead"\} 0$/m)
    assert.match(text, /^harombe_mesh_connections [1-9]/m)
    assert.match(text, /^harombe_http_requests_total\{route="\/api\/cluster",status="200"\} 1$/m)
    assert.match(text, /^process_resident_memory_bytes /m)
  })

  it('should protect /metrics with the token but serve the dashboard page', async () => {
    const api = peers[0]?.info().apiUrl ?? ''
    assert.equal((await fetch(`${api}/metrics`)).status, 401)
    const page = await fetch(`${api}/`)
    assert.equal(page.status, 200)
    assert.match(page.headers.get('content-type') ?? '', /text\/html/)
    assert.match(await page.text(), /fetch\('\/api\/cluster'/)
  })
})
