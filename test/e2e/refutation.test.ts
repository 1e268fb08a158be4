import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { ClusterJson, PeerJson } from '../../src/api/cluster-json.js'
import { spawnPeer, type SpawnedPeer } from '../helpers/spawn-peer.js'
import { waitForClusterHttp } from '../helpers/cluster-http.js'

// A peer the others have declared dead comes back by refuting (SWIM's incarnation rule), across
// real processes and without root: SIGSTOP freezes it past the dead verdict (the kernel keeps its
// sockets), SIGCONT resumes the same process. A dead member is not revived by answering a probe
// (view.ts: `reachable` leaves dead alone), only by a newer announcement of its own, which it
// sends when a probe tells it what the prober holds (`seen`). Without refutation it would stay
// dead until its 60 s retention ran out. The DEFAULT timing profile, as a user runs it.

/** Issue 7's re-convergence bound (as after a healed partition), measured from SIGCONT. */
const BACK_ALIVE_MS = 5_000
/** Bounds for the phases before the measured one; generous for a loaded 2-core machine, not the contract. */
const READY_TIMEOUT_MS = 20_000
const CONVERGE_TIMEOUT_MS = 20_000
const DEAD_TIMEOUT_MS = 15_000

function peerArgs (name: string, dataDir: string, bootstrap?: string): string[] {
  // Loopback only, mDNS off, no backend: membership alone.
  return [
    '--name', name, '--backend', 'none', '--no-mdns', '--api-port', '0', '--listen', '/ip4/127.0.0.1/tcp/0', '--data-dir', dataDir,
    ...(bootstrap != null ? ['--bootstrap', bootstrap] : [])
  ]
}

describe('e2e: a peer declared dead refutes after SIGCONT', function () {
  this.timeout(90_000)
  const peers: SpawnedPeer[] = []
  let root: string
  let stopped: SpawnedPeer | undefined

  before(async () => { root = await mkdtemp(join(tmpdir(), 'harombe-refute-')) })
  after(async () => {
    // A stopped process ignores SIGTERM until continued: continue it first so nothing leaks.
    if (stopped?.child.pid != null && stopped.child.exitCode == null) {
      try { process.kill(stopped.child.pid, 'SIGCONT') } catch {}
    }
    await Promise.all(peers.map(async p => { await p.stop().catch(() => {}) }))
    await rm(root, { recursive: true, force: true })
  })

  it('should be alive again in every view within 5 s, by a refutation of the same incarnation', async () => {
    const seed = await spawnPeer(peerArgs('seed', join(root, 'seed')), { timeoutMs: READY_TIMEOUT_MS })
    peers.push(seed)
    const bootstrap = seed.ready.mesh[0] ?? ''
    const [other, victim] = await Promise.all([
      spawnPeer(peerArgs('other', join(root, 'other'), bootstrap), { timeoutMs: READY_TIMEOUT_MS }),
      spawnPeer(peerArgs('victim', join(root, 'victim'), bootstrap), { timeoutMs: READY_TIMEOUT_MS })
    ]) as [SpawnedPeer, SpawnedPeer]
    peers.push(other, victim)
    const victimId = victim.ready.peerId
    const everyone = [seed, other, victim]
    const witnesses = [seed, other]
    const victimIn = (cl: ClusterJson): PeerJson | undefined => cl.peers.find(p => p.peer_id === victimId)
    const allAlive = (cl: ClusterJson): boolean => cl.peers.length === 3 && cl.peers.every(p => p.state === 'alive')

    await Promise.all(everyone.map(async p => await waitForClusterHttp(p.ready.api, allAlive, CONVERGE_TIMEOUT_MS, `all 3 alive on ${p.ready.name}`)))
    const incarnation = victimIn(await waitForClusterHttp(seed.ready.api, allAlive, 1_000))?.incarnation
    assert.ok(incarnation != null)

    const pid = victim.child.pid
    assert.ok(pid != null)
    stopped = victim
    process.kill(pid, 'SIGSTOP')
    // Past the dead verdict in every other view: from here only a refutation brings it back.
    await Promise.all(witnesses.map(async p => await waitForClusterHttp(p.ready.api, cl => victimIn(cl)?.state === 'dead', DEAD_TIMEOUT_MS, `victim dead on ${p.ready.name}`)))

    process.kill(pid, 'SIGCONT')
    stopped = undefined
    const continuedAt = Date.now()
    const views = await Promise.all(everyone.map(async p => {
      const view = await waitForClusterHttp(p.ready.api, allAlive, BACK_ALIVE_MS - (Date.now() - continuedAt), `all 3 alive again on ${p.ready.name} after SIGCONT`)
      return { name: p.ready.name, view, ms: Date.now() - continuedAt }
    })).catch((err: Error) => {
      throw new Error(`${err.message}\n--- victim stderr ---\n${victim.stderrTail()}`)
    })
    console.log(`      SIGCONT → all alive in every view after ${Math.max(...views.map(v => v.ms))} ms (${views.map(v => `${v.name} ${v.ms} ms`).join(', ')})`)
    for (const { name, view } of views.filter(v => v.name !== 'victim')) {
      const seen = victimIn(view)
      // Same process (a restart would come back with a new incarnation and the reason "rejoined").
      assert.equal(seen?.incarnation, incarnation, `victim's incarnation on ${name}`)
      assert.match(seen?.reason ?? '', /^refuted/, `why ${name} holds the victim alive again`)
    }
  })
})
