import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { hostname, tmpdir } from 'node:os'
import { join } from 'node:path'
import { spawnPeer, type SpawnedPeer } from '../helpers/spawn-peer.js'
import { runCli } from '../helpers/run-cli.js'
import { waitForClusterHttp } from '../helpers/cluster-http.js'

// Issue 27, item 5: two peers started without --name on one host were both called after it; the
// later one now takes "<host>-2", says so, and status shows the clash. And `status --config
// cluster.yaml` talks to the file's coordinator.host, which was documented and never read.

describe('e2e: peer names and the cluster file\'s coordinator', function () {
  this.timeout(90_000)
  let dir: string
  const peers: SpawnedPeer[] = []

  before(async () => { dir = await mkdtemp(join(tmpdir(), 'harombe-names-')) })
  after(async () => {
    await Promise.all(peers.map(async p => { await p.stop() }))
    await rm(dir, { recursive: true, force: true })
  })

  const mesh = (name: string): string[] => ['--backend', 'none', '--no-mdns', '--listen', '/ip4/127.0.0.1/tcp/0', '--api-port', '0', '--data-dir', join(dir, name), '--profile', 'test']

  it('should rename the second peer started under the hostname, and show the clash in status', async () => {
    const host = hostname()
    const first = await spawnPeer(mesh('first'))
    peers.push(first)
    const second = await spawnPeer([...mesh('second'), '--bootstrap', first.ready.mesh[0] ?? ''])
    peers.push(second)
    assert.equal(first.ready.name, host)

    const view = await waitForClusterHttp(first.ready.api, c => c.peers.some(p => p.peer_id === second.ready.peerId && p.name === `${host}-2`), 15_000, `the second peer renamed ${host}-2`)
    assert.equal(view.peers.find(p => p.peer_id === second.ready.peerId)?.wanted_name, host)
    assert.equal(view.peers.find(p => p.peer_id === first.ready.peerId)?.name, host, 'the first keeps its name')
    assert.match(second.stderr(), new RegExp(`name "${host}" is already held by peer ${first.ready.peerId}, which started first; this peer is now "${host}-2"`))

    const status = await runCli(['status', '--api', first.ready.api])
    assert.equal(status.code, 0, status.stdout + status.stderr)
    assert.match(status.stdout, new RegExp(`^name clash: ${host}-2 \\(12D3…\\w{6}\\) was started as "${host}", which 12D3…\\w{6} holds$`, 'm'))
  })

  it('should point status at the cluster file\'s coordinator.host, with that node\'s port and token', async () => {
    const peer = await spawnPeer([...mesh('coordinated'), '--name', 'coordinated', '--token', 'coordinator-secret'])
    peers.push(peer)
    const port = new URL(peer.ready.api).port
    const file = join(dir, 'cluster.yaml')
    await writeFile(file, [
      'cluster:',
      '  coordinator: { host: 127.0.0.1 }',
      '  nodes:',
      `    - { name: coordinated, host: 127.0.0.1, port: ${port}, model: m, tier: 0, auth_token: coordinator-secret }`
    ].join('\n') + '\n')
    const status = await runCli(['status', '--config', file], { env: { HAROMBE_TOKEN: '' } })
    assert.equal(status.code, 0, status.stdout + status.stderr)
    assert.match(status.stdout, new RegExp(`view of coordinated \\(${peer.ready.api.replace(/[.]/g, '\\.')}\\)`))
    // A typed --api still wins.
    const typed = await runCli(['status', '--config', file, '--api', 'http://127.0.0.1:1'], { env: { HAROMBE_TOKEN: '' } })
    assert.equal(typed.code, 1)
    assert.match(typed.stderr, /no harombe peer at http:\/\/127\.0\.0\.1:1/)
  })
})
