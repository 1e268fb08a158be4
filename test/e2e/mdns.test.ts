import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import type { ClusterJson } from '../../src/api/cluster-json.js'
import { canCreateNamespaces, createNetnsLan, ip, openNamespaceFetcher, type NamespaceFetcher, type NetnsLan } from '../helpers/netns.js'
import { spawnPeer, type SpawnedPeer } from '../helpers/spawn-peer.js'

// Two peers, each alone in its own network namespace joined by a veth pair, find each other by
// mDNS only (no bootstrap, no config). Nothing listens on the machine's own interfaces.

/** Both peers start in parallel; tsx start-up on a loaded 2-core machine takes a few seconds. */
const READY_TIMEOUT_MS = 12_000
/** mDNS queries every second; discovery, dial and view exchange follow within milliseconds. */
const DISCOVERY_TIMEOUT_MS = 10_000
const POLL_INTERVAL_MS = 100

describe('e2e: mDNS discovery across network namespaces', function () {
  this.timeout(30_000)

  let lan: NetnsLan | undefined
  let dataDir: string | undefined
  let fetcher: NamespaceFetcher | undefined
  const peers: SpawnedPeer[] = []

  before(async function () {
    const reason = await canCreateNamespaces()
    if (reason != null) {
      console.log(`      skipping mDNS e2e: ${reason}`)
      this.skip()
    }
    lan = await createNetnsLan({ size: 2 })
    dataDir = await mkdtemp(join(tmpdir(), 'harombe-mdns-'))
  })

  after(async function () {
    await fetcher?.close()
    // SIGTERM, then SIGKILL after 5 s; then the namespaces (deleting one removes its veth end).
    await Promise.all(peers.map(async p => await p.stop()))
    await lan?.destroy()
    if (dataDir != null) await rm(dataDir, { recursive: true, force: true })
  })

  it('should let two peers with mDNS on and no bootstrap discover each other', async function () {
    const namespaces = lan!.namespaces
    const started = await Promise.allSettled(namespaces.map(async (ns, i) => {
      const name = `mdns-${String.fromCharCode(97 + i)}`
      const peer = await spawnPeer([
        '--backend', 'none',
        '--profile', 'test',
        '--name', name,
        '--api-host', ns.address,
        '--api-port', '0',
        '--listen', `/ip4/${ns.address}/tcp/0`,
        '--data-dir', join(dataDir!, name)
      ], { prefix: ns.exec, timeoutMs: READY_TIMEOUT_MS })
      peers.push(peer)
      return peer
    }))
    for (const result of started) {
      if (result.status === 'rejected') throw result.reason
    }
    const [a, b] = started.map(r => (r as PromiseFulfilledResult<SpawnedPeer>).value) as [SpawnedPeer, SpawnedPeer]
    const addressOf = new Map([[a, namespaces[0]!.address], [b, namespaces[1]!.address]])

    // Each peer is reachable only on its namespace address, never on a host interface.
    for (const peer of [a, b]) {
      const address = addressOf.get(peer)!
      assert.ok(peer.ready.api.startsWith(`http://${address}:`), `api ${peer.ready.api} is not on ${address}`)
      assert.ok(peer.ready.mesh.length > 0, `${peer.ready.name} printed no mesh address`)
      for (const addr of peer.ready.mesh) {
        assert.ok(addr.startsWith(`/ip4/${address}/tcp/`), `mesh address ${addr} is not on ${address}`)
      }
    }

    // Both APIs are reachable from namespace a: its own address locally, b's across the veth.
    fetcher = openNamespaceFetcher(namespaces[0]!.name)
    const deadline = Date.now() + DISCOVERY_TIMEOUT_MS
    let views: Array<ClusterJson | string> = []
    while (true) {
      views = await Promise.all([a, b].map(async p => {
        try {
          return (await fetcher!.getJson<ClusterJson>(`${p.ready.api}/api/cluster`, 1_000)).body
        } catch (err) {
          return `GET ${p.ready.api}/api/cluster failed: ${(err as Error).message}`
        }
      }))
      if (seesAlive(views[0], b) && seesAlive(views[1], a)) break
      if (Date.now() >= deadline) {
        assert.fail(`peers did not discover each other within ${DISCOVERY_TIMEOUT_MS} ms\n` +
          `a's view: ${summary(views[0])}\nb's view: ${summary(views[1])}\n` +
          `--- a stderr ---\n${a.stderrTail()}\n--- b stderr ---\n${b.stderrTail()}\n` +
          // mDNS needs a multicast route in each namespace (LIBP2P-NOTES 11); show what is there.
          await networkState(lan!))
      }
      await sleep(POLL_INTERVAL_MS)
    }

    for (const [view, self, other] of [[views[0], a, b], [views[1], b, a]] as const) {
      assert.ok(typeof view === 'object')
      assert.equal(view.self.peer_id, self.ready.peerId)
      const entry = view.peers.find(p => p.peer_id === other.ready.peerId)
      assert.ok(entry != null, `${self.ready.name} does not list ${other.ready.name}`)
      assert.equal(entry.name, other.ready.name)
      assert.equal(entry.self, false)
      assert.equal(entry.state, 'alive')
      const address = addressOf.get(other)!
      assert.ok(entry.addrs.every(addr => addr.startsWith(`/ip4/${address}/`)), `${other.ready.name} announced ${entry.addrs.join(',')}`)
    }
  })
})

function seesAlive (view: ClusterJson | string | undefined, other: SpawnedPeer): boolean {
  return typeof view === 'object' && view.peers.some(p => p.peer_id === other.ready.peerId && p.state === 'alive')
}

function summary (view: ClusterJson | string | undefined): string {
  if (typeof view !== 'object') return String(view)
  return view.peers.map(p => `${p.name}(${p.state}${p.self ? ', self' : ''})`).join(' ') || '(empty)'
}

async function networkState (lan: NetnsLan): Promise<string> {
  const parts = await Promise.all(lan.namespaces.map(async ns => {
    const show = async (args: string[]): Promise<string> => await ip(['-n', ns.name, ...args]).catch((err: Error) => err.message)
    return `--- ${ns.name} ---\n${await show(['-br', 'link'])}${await show(['route', 'show'])}`
  }))
  return parts.join('\n')
}
