import assert from 'node:assert/strict'
import Fastify from 'fastify'
import { registerMetrics } from '../../src/http/metrics.js'
import { createRequestLog } from '../../src/completion/request-log.js'
import { BoundedRegistry } from '../../src/util/bounded-registry.js'
import type { ClusterJson } from '../../src/api/cluster-json.js'

describe('/metrics: served_by label values are bounded', () => {
  it('should count names past the bound as other, never adding more series', async () => {
    const app = Fastify()
    const requests = createRequestLog()
    const bounded = new BoundedRegistry()
    registerMetrics(app, { cluster: () => ({ peers: [] }) as unknown as ClusterJson, meshConnections: () => 0, requests, bounded, maxServedByLabels: 3 })
    try {
      // The first scrape loads prom-client and subscribes to the journal.
      assert.equal((await app.inject('/metrics')).statusCode, 200)
      for (let i = 0; i < 10; i++) {
        requests.record({ id: `r${i}`, startedAt: 0, api: 'openai', model: 'm', stream: false, outcome: 'ok', attempts: 1, durationMs: 1, servedBy: { name: `peer-${i % 5}`, peer_id: `id-${i % 5}`, tier: 0 } })
      }
      const text = (await app.inject('/metrics')).body
      const counts = new Map<string, number>()
      for (const m of text.matchAll(/^harombe_completion_requests_total\{api="openai",outcome="ok",served_by="([^"]*)"\} (\d+)$/gm)) counts.set(m[1] as string, Number(m[2]))
      // peer-0..2 arrive first and keep their names; peer-3 and peer-4 (2 requests each) are `other`.
      assert.deepEqual(Object.fromEntries(counts), { 'peer-0': 2, 'peer-1': 2, 'peer-2': 2, other: 4 })
      assert.deepEqual(bounded.read().find(r => r.name === 'metrics.served-by-labels'), { name: 'metrics.served-by-labels', size: 3, limit: 3 })
    } finally {
      await app.close()
    }
  })
})
