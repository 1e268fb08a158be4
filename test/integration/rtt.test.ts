import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createPeer, type Peer } from '../../src/peer.js'
import { pollUntil } from '../helpers/wait.js'

/**
 * Issue 15: the libp2p ping we showed before timed a new stream as well as the echo and read
 * 13–21 ms between idle loopback peers. The estimate now comes from an empty echo right after each
 * answered probe, less the answerer's own time (prober.ts, swim-channel.ts). The loose CI
 * bound is 2 ms; the benchmark (npm run bench:rtt) holds the 0.5 ms target.
 */
const LOOPBACK_RTT_BOUND_MS = 2
const MIN_SAMPLES = 12

describe('round-trip time between two idle peers on 127.0.0.1', function () {
  this.timeout(20_000)
  let dir: string
  const peers: Peer[] = []
  before(async () => { dir = await mkdtemp(join(tmpdir(), 'harombe-rtt-')) })
  after(async () => {
    await Promise.all(peers.map(async p => { await p.stop().catch(() => {}) }))
    await rm(dir, { recursive: true, force: true })
  })

  it(`should read below ${LOOPBACK_RTT_BOUND_MS} ms both ways, in /api/cluster and /metrics`, async () => {
    // The test profile probes every 100 ms (lan: 500 ms): still idle peers, and enough samples fast.
    const common = { apiPort: 0, listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, profile: 'test' as const }
    const a = createPeer({ ...common, name: 'a', dataDir: join(dir, 'a') })
    peers.push(a)
    await a.start()
    const b = createPeer({ ...common, name: 'b', dataDir: join(dir, 'b'), bootstrap: [a.info().meshAddrs[0] ?? ''] })
    peers.push(b)
    await b.start()
    const pairs: Array<[Peer, Peer]> = [[a, b], [b, a]]
    await pollUntil(() => pairs.every(([x, y]) => (x.membership().rtt(y.info().peerId)?.samples ?? 0) >= MIN_SAMPLES), 10_000, `${MIN_SAMPLES} probe round trips each way`)
    for (const [x, y] of pairs) {
      const read = (): number | null | undefined => x.cluster().peers.find(p => p.peer_id === y.info().peerId)?.latency_ms
      const seen = read()
      assert.ok(seen != null && seen > 0 && seen < LOOPBACK_RTT_BOUND_MS, `${x.info().name} reads ${String(seen)} ms to ${y.info().name}`)
      const metrics = await (await fetch(`${x.info().apiUrl}/metrics`)).text()
      // A probe may land between the two reads and move the median: the scrape must show the median
      // as it was just before or just after it.
      const after = read()
      const gauge = new RegExp(`^harombe_peer_rtt_seconds\\{peer="${y.info().name}",peer_id="${y.info().peerId}"\\} (\\S+)$`, 'm').exec(metrics)
      assert.ok(gauge != null, 'the RTT gauge lists the peer')
      const scraped = Number(gauge[1]) * 1000
      assert.ok([seen, after].some(v => v != null && Math.abs(scraped - v) < 0.01), `the same median in /metrics (${scraped} ms; /api/cluster read ${seen} then ${String(after)} ms)`)
    }
  })
})
