import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client'
import type { FastifyInstance } from 'fastify'
import type { ClusterJson } from './cluster-json.js'

export interface MetricsSource {
  cluster: () => ClusterJson
  meshConnections: () => number
}

/** Request durations from a sub-millisecond cluster read to a minutes-long generation. */
const DURATION_BUCKETS = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300]

/**
 * `GET /metrics` in Prometheus text format. One registry per peer (not prom-client's global one):
 * several peers may share a process (tests, `harombe-peer demo`).
 */
export function registerMetrics (app: FastifyInstance, source: MetricsSource): void {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry })

  const requests = new Counter({ name: 'harombe_http_requests_total', help: 'HTTP requests by route and status', labelNames: ['route', 'status'], registers: [registry] })
  const duration = new Histogram({ name: 'harombe_http_request_duration_seconds', help: 'HTTP request duration by route', labelNames: ['route'], buckets: DURATION_BUCKETS, registers: [registry] })

  // Gauges read the live view at scrape time: nothing to keep in sync.
  new Gauge({
    name: 'harombe_peers',
    help: 'Peers in this peer\'s cluster view, by state',
    labelNames: ['state'],
    registers: [registry],
    collect () {
      const counts: Record<string, number> = { alive: 0, suspect: 0, dead: 0, left: 0 }
      for (const p of source.cluster().peers) counts[p.state] = (counts[p.state] ?? 0) + 1
      for (const [state, n] of Object.entries(counts)) this.set({ state }, n)
    }
  })
  new Gauge({
    name: 'harombe_local_load',
    help: 'This peer\'s completions: active, queued and capacity',
    labelNames: ['kind'],
    registers: [registry],
    collect () {
      const self = source.cluster().peers.find(p => p.self)
      if (self == null) return
      for (const kind of ['active', 'queued', 'capacity'] as const) this.set({ kind }, self.load[kind])
    }
  })
  new Gauge({
    name: 'harombe_mesh_connections',
    help: 'Open libp2p connections',
    registers: [registry],
    collect () { this.set(source.meshConnections()) }
  })

  app.addHook('onResponse', async (request, reply) => {
    // The route pattern, not the raw URL: bounded label values.
    const route = request.routeOptions.url ?? 'unmatched'
    requests.inc({ route, status: String(reply.statusCode) })
    duration.observe({ route }, reply.elapsedTime / 1000)
  })

  app.get('/metrics', async (_request, reply) => {
    await reply.header('content-type', registry.contentType).send(await registry.metrics())
  })
}
