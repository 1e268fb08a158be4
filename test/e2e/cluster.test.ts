import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import type { ClusterJson } from '../../src/api/cluster-json.js'
import { PEER_BIN, spawnPeer, type SpawnedPeer } from '../helpers/spawn-peer.js'
import { waitForClusterHttp } from '../helpers/cluster-http.js'

const run = promisify(execFile)

/** Loopback only, mDNS off (it would go out on the host's LAN interface), default `lan` timing. */
function peerArgs (name: string, dataDir: string, bootstrap?: string): string[] {
  return [
    '--name', name, '--backend', 'none', '--no-mdns',
    '--api-port', '0', '--listen', '/ip4/127.0.0.1/tcp/0', '--data-dir', dataDir,
    ...(bootstrap != null ? ['--bootstrap', bootstrap] : [])
  ]
}

async function statusJson (api: string): Promise<ClusterJson> {
  // exit code 1 means "some peer not alive" — still valid JSON on stdout.
  const result = await run(process.execPath, [PEER_BIN, 'status', '--json', '--api', api], { timeout: 15_000 })
    .catch((err: any) => { if (err.code === 1 && err.stdout !== '') return err; throw err })
  return JSON.parse(result.stdout) as ClusterJson
}

describe('e2e: 3 spawned `harombe-peer start` processes', function () {
  this.timeout(60_000)
  const peers: SpawnedPeer[] = []
  let root: string

  before(async () => { root = await mkdtemp(join(tmpdir(), 'harombe-e2e-')) })
  after(async () => {
    await Promise.all(peers.map(async p => { await p.stop().catch(() => {}) }))
    await rm(root, { recursive: true, force: true })
  })

  it('should converge, notice a kill -9 within 3 s, and take the restarted peer back with the same id', async () => {
    const first = await spawnPeer(peerArgs('p1', join(root, 'p1')))
    peers.push(first)
    const bootstrap = first.ready.mesh[0] ?? ''
    const [second, third] = await Promise.all([
      spawnPeer(peerArgs('p2', join(root, 'p2'), bootstrap)),
      spawnPeer(peerArgs('p3', join(root, 'p3'), bootstrap))
    ]) as [SpawnedPeer, SpawnedPeer]
    peers.push(second, third)
    const all = [first, second, third]

    const allAlive = (cl: ClusterJson): boolean => cl.peers.length === 3 && cl.peers.every(p => p.state === 'alive')
    await Promise.all(all.map(async p => await waitForClusterHttp(p.ready.api, allAlive, 10_000, '3 alive')))
    for (const p of all) {
      const status = await statusJson(p.ready.api)
      assert.deepEqual(status.peers.map(x => [x.name, x.state]), [['p1', 'alive'], ['p2', 'alive'], ['p3', 'alive']], `status via ${p.ready.name}`)
    }

    const victimId = third.ready.peerId
    const killedAt = Date.now()
    await third.kill()
    const notAlive = (cl: ClusterJson): boolean => cl.peers.some(p => p.peer_id === victimId && p.state !== 'alive')
    await Promise.all([first, second].map(async p => await waitForClusterHttp(p.ready.api, notAlive, 3_000, 'p3 not alive')))
    const detectedMs = Date.now() - killedAt
    assert.ok(detectedMs <= 3_000, `kill -9 noticed after ${detectedMs} ms`)
    for (const p of [first, second]) {
      const state = (await statusJson(p.ready.api)).peers.find(x => x.peer_id === victimId)?.state
      assert.ok(state === 'suspect' || state === 'dead', `p3 is ${String(state)} on ${p.ready.name}`)
    }

    const restarted = await spawnPeer(peerArgs('p3', join(root, 'p3'), bootstrap))
    peers.push(restarted)
    assert.equal(restarted.ready.peerId, victimId, 'same peer id from the same --data-dir')
    await Promise.all([first, second, restarted].map(async p => await waitForClusterHttp(p.ready.api, allAlive, 10_000, 'p3 alive again')))
  })
})
