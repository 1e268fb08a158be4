import { createRequire } from 'node:module'
import type { Registry } from 'prom-client'
import type { FastifyInstance } from 'fastify'
import type { RequestLog } from '../completion/request-log.js'
import type { GossipCounts } from '../membership/service.js'
import type { BreakerState } from '../routing/breaker.js'
import type { ClusterJson } from '../api/cluster-json.js'
import type { BoundedRegistry } from '../util/bounded-registry.js'
import { watchHeapAfterGc } from './heap-after-gc.js'

export interface MetricsSource {
  cluster: () => ClusterJson
  meshConnections: () => number
  /** Open libp2p streams over all connections (protocol streams: completions, membership, pulls…). */
  meshStreams?: () => number
  /** Finished completion requests and the in-flight count. */
  requests?: RequestLog
  /** Peers whose breaker is not plainly closed, as of now. */
  breakers?: () => ReadonlyMap<string, BreakerState>
  /** Undefined until membership has started. */
  gossip?: () => GossipCounts | undefined
  /** Completions ended by the peer's request timeout so far. */
  timeouts?: () => TimeoutCounts
  /** Bounded structures (maps, caches, queues) with their sizes and bounds. */
  bounded?: BoundedRegistry
  /** Distinct `served_by` label values at most (default MAX_SERVED_BY_LABELS). */
  maxServedByLabels?: number
}

export interface TimeoutCounts {
  /** Requests through this peer (its API or its client), whichever peer served them. */
  request: number
  /** Runs of this peer's backend, for any caller. */
  backend: number
}

/** Request durations from a sub-millisecond cluster read to a minutes-long generation. */
const DURATION_BUCKETS = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300]

/** Time to first token: a warm local backend answers in tens of ms, a cold model load takes seconds. */
const TTFT_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]

/** Gauge values for breaker states: ordered by how much traffic the peer gets, so max() alerts work. */
const BREAKER_VALUE: Record<BreakerState['state'], number> = { closed: 0, 'half-open': 1, open: 2 }

/** nginx's code for a client that closed the connection before the answer ended. */
const CLIENT_CLOSED = '499'

/**
 * Distinct node names in `served_by` labels. prom-client keeps every label set for the life of the
 * registry, so a mesh where peers come and go under new names would add series for ever; past this
 * many, further names are counted as `other`. A home lab has tens of peers.
 */
export const MAX_SERVED_BY_LABELS = 256

/** Resolution of the nodejs_eventloop_lag metrics: coarse enough to cost nothing, fine enough to see a stall. */
const EVENT_LOOP_SAMPLE_MS = 200

const requireFromHere = createRequire(import.meta.url)

/** What a request needs once prom-client is loaded. */
interface LoadedMetrics {
  registry: Registry
  count: (route: string, status: string, seconds: number) => void
  /** Stops mirroring the request journal. */
  close: () => void
}

/**
 * `GET /metrics` in Prometheus text format. One registry per peer (not prom-client's global one):
 * several peers may share a process (tests, `harombe-peer demo`).
 *
 * prom-client is loaded by the first HTTP request, not at start: with its default collectors it
 * cost an idle peer ~2 MB of RSS (measured side by side), and a peer nobody calls never needs it.
 * Every request of ours is counted; the runtime metrics (GC, event-loop lag) count from that
 * first request on.
 */
export function registerMetrics (app: FastifyInstance, source: MetricsSource): void {
  let loaded: LoadedMetrics | undefined
  let closed = false
  // require, not import(): prom-client is CommonJS, and loading it synchronously means no request
  // ever waits on a promise for it.
  const load = (): LoadedMetrics => {
    loaded = buildMetrics(requireFromHere('prom-client') as typeof import('prom-client'), source)
    if (closed) loaded.close()
    return loaded
  }

  app.addHook('onResponse', async (request, reply) => {
    const metrics = loaded ?? load()
    // The route pattern, not the raw URL: bounded label values.
    metrics.count(request.routeOptions.url ?? 'unmatched', String(reply.statusCode), reply.elapsedTime / 1000)
  })
  // A response that never finishes (client gone mid-stream, destroyed socket) gets no onResponse.
  app.addHook('onRequest', async (request, reply) => {
    const metrics = loaded ?? load()
    const started = performance.now()
    reply.raw.once('close', () => {
      if (reply.raw.writableFinished) return
      metrics.count(request.routeOptions.url ?? 'unmatched', CLIENT_CLOSED, (performance.now() - started) / 1000)
    })
  })
  app.addHook('onClose', async () => {
    closed = true
    loaded?.close()
  })

  app.get('/metrics', async (_request, reply) => {
    const { registry } = loaded ?? load()
    await reply.header('content-type', registry.contentType).send(await registry.metrics())
  })
}

function buildMetrics (prom: typeof import('prom-client'), source: MetricsSource): LoadedMetrics {
  const { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } = prom
  const registry = new Registry()
  // The event-loop lag histogram samples on a native timer: prom-client's 10 ms default cost an
  // idle peer ~5 ms of CPU per second (measured side by side), 200 ms ~0.6 (issue 12).
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS })

  const requests = new Counter({ name: 'harombe_http_requests_total', help: 'HTTP requests by route and status (499: the client left before the answer ended)', labelNames: ['route', 'status'], registers: [registry] })
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
    help: 'This peer\'s backend completions: active, queued (the local queue depth) and capacity, as announced',
    labelNames: ['kind'],
    registers: [registry],
    collect () {
      const self = source.cluster().peers.find(p => p.self)
      if (self == null) return
      for (const kind of ['active', 'queued', 'capacity'] as const) this.set({ kind }, self.load[kind])
    }
  })
  new Gauge({
    name: 'harombe_peer_rtt_seconds',
    help: 'Round trip to each peer: median of the recent echoes timed right after membership probes on the open connection, less the time the peer held them',
    labelNames: ['peer', 'peer_id'],
    registers: [registry],
    collect () {
      // Reset first: peers dropped from the view must not linger with their last value.
      this.reset()
      for (const p of source.cluster().peers) {
        if (!p.self && p.latency_ms != null) this.set({ peer: p.name, peer_id: p.peer_id }, p.latency_ms / 1000)
      }
    }
  })
  new Gauge({
    name: 'harombe_mesh_connections',
    help: 'Open libp2p connections',
    registers: [registry],
    collect () { this.set(source.meshConnections()) }
  })

  const meshStreams = source.meshStreams
  if (meshStreams != null) {
    new Gauge({
      name: 'harombe_mesh_streams',
      help: 'Open libp2p streams over all connections',
      registers: [registry],
      collect () { this.set(meshStreams()) }
    })
  }
  const heap = watchHeapAfterGc()
  new Gauge({
    name: 'harombe_heap_used_after_gc_bytes',
    help: 'V8 heap in use right after the last major collection (absent before the first one): what a leak grows',
    registers: [registry],
    collect () {
      const bytes = heap.bytes()
      if (bytes != null) this.set(bytes)
    }
  })
  new Gauge({
    name: 'harombe_major_gcs_observed',
    help: 'Major collections seen since /metrics was first loaded (how many readings harombe_heap_used_after_gc_bytes rests on)',
    registers: [registry],
    collect () { this.set(heap.majorCollections()) }
  })

  const unsubscribe = registerCompletionMetrics(prom, registry, source)

  const breakers = source.breakers
  if (breakers != null) {
    new Gauge({
      name: 'harombe_breaker_state',
      help: 'Circuit breaker per peer: 0 closed, 1 half-open, 2 open',
      labelNames: ['peer', 'peer_id'],
      registers: [registry],
      collect () {
        // Reset first: peers dropped from the view must not linger with their last value.
        this.reset()
        const states = breakers()
        const named = new Set<string>()
        for (const p of source.cluster().peers) {
          named.add(p.peer_id)
          this.set({ peer: p.name, peer_id: p.peer_id }, BREAKER_VALUE[states.get(p.peer_id)?.state ?? 'closed'])
        }
        // HTTP-only cluster-file nodes are not in the view; their id names them well enough.
        for (const [id, state] of states) {
          if (!named.has(id)) this.set({ peer: id, peer_id: id }, BREAKER_VALUE[state.state])
        }
      }
    })
  }

  const gossip = source.gossip
  if (gossip != null) {
    new Counter({
      name: 'harombe_gossip_messages_total',
      help: 'Membership announcements: in (accepted), out (published), rejected (refused by the validator)',
      labelNames: ['kind'],
      registers: [registry],
      collect () {
        const counts = gossip()
        if (counts == null) return
        // The membership service owns the running totals; mirror them.
        this.reset()
        for (const kind of ['in', 'out', 'rejected'] as const) this.inc({ kind }, counts[kind])
      }
    })
  }

  const timeouts = source.timeouts
  if (timeouts != null) {
    new Counter({
      name: 'harombe_request_timeouts_total',
      help: 'Completions ended by this peer\'s --request-timeout: request (through this peer, retries and handovers included) or backend (a run of this peer\'s backend, for any caller)',
      labelNames: ['where'],
      registers: [registry],
      collect () {
        // The deadlines own the running totals; mirror them.
        const counts = timeouts()
        this.reset()
        for (const where of ['request', 'backend'] as const) this.inc({ where }, counts[where])
      }
    })
  }

  const bounded = source.bounded
  if (bounded != null) {
    const readings = (): ReturnType<BoundedRegistry['read']> => bounded.read()
    new Gauge({
      name: 'harombe_bounded_size',
      help: 'Entries held now by each bounded structure (map, set, queue or cache keyed by request, peer, stream or model)',
      labelNames: ['structure'],
      registers: [registry],
      collect () {
        this.reset()
        for (const r of readings()) this.set({ structure: r.name }, r.size)
      }
    })
    new Gauge({
      name: 'harombe_bounded_limit',
      help: 'The bound of each bounded structure: harombe_bounded_size never exceeds it',
      labelNames: ['structure'],
      registers: [registry],
      collect () {
        this.reset()
        for (const r of readings()) this.set({ structure: r.name }, r.limit)
      }
    })
  }

  return {
    registry,
    count: (route, status, seconds) => {
      requests.inc({ route, status })
      duration.observe({ route }, seconds)
    },
    close: () => {
      unsubscribe()
      heap.close()
    }
  }
}

/** Completion figures from the request journal: the same records `GET /api/requests` lists. */
function registerCompletionMetrics (prom: typeof import('prom-client'), registry: Registry, source: MetricsSource): () => void {
  const { Counter, Gauge, Histogram } = prom
  const log = source.requests
  if (log == null) return () => {}
  const completions = new Counter({ name: 'harombe_completion_requests_total', help: 'Completion requests by API, outcome and the node that served them (none: no node answered)', labelNames: ['api', 'outcome', 'served_by'], registers: [registry] })
  const ttft = new Histogram({ name: 'harombe_completion_ttft_seconds', help: 'Time to the first streamed token, by API', labelNames: ['api'], buckets: TTFT_BUCKETS, registers: [registry] })
  const duration = new Histogram({ name: 'harombe_completion_duration_seconds', help: 'Completion request duration, by API and outcome', labelNames: ['api', 'outcome'], buckets: DURATION_BUCKETS, registers: [registry] })
  const tokens = new Counter({ name: 'harombe_completion_tokens_total', help: 'Completion tokens generated, by the node that served them', labelNames: ['served_by'], registers: [registry] })
  const retries = new Counter({ name: 'harombe_completion_retries_total', help: 'Attempts beyond the first (failover to the next peer), by API', labelNames: ['api'], registers: [registry] })
  const promptTokens = new Counter({ name: 'harombe_prompt_tokens_total', help: 'Prompt tokens of answered requests: cached="true" the serving backend took from its prompt cache, "false" the rest (evaluated, or from a backend that reports no cached figure)', labelNames: ['cached'], registers: [registry] })
  // Both series from the start: a share computed from them is 0 % rather than missing before the first hit.
  promptTokens.inc({ cached: 'true' }, 0)
  promptTokens.inc({ cached: 'false' }, 0)
  const handovers = new Counter({ name: 'harombe_completion_handovers_total', help: 'Answers handed to another peer after their peer failed mid-answer (continued from the delivered text), by API', labelNames: ['api'], registers: [registry] })
  new Gauge({
    name: 'harombe_completion_in_flight',
    help: 'Completion requests received by this peer\'s API and not finished yet',
    registers: [registry],
    collect () { this.set(log.inFlight()) }
  })

  const embeddings = new Counter({ name: 'harombe_embedding_requests_total', help: 'Embedding requests by API, outcome and the node that served them (none: no node answered)', labelNames: ['api', 'outcome', 'served_by'], registers: [registry] })
  const embeddingInputs = new Counter({ name: 'harombe_embedding_inputs_total', help: 'Inputs embedded (answered requests), by the node that served them', labelNames: ['served_by'], registers: [registry] })
  const maxNames = source.maxServedByLabels ?? MAX_SERVED_BY_LABELS
  const names = new Set<string>()
  source.bounded?.register({ name: 'metrics.served-by-labels', limit: maxNames, size: () => names.size })
  /** The label for a node name: itself while there is room, else `other` (see MAX_SERVED_BY_LABELS). */
  const label = (name: string | undefined): string => {
    if (name == null) return 'none'
    if (names.has(name)) return name
    if (names.size >= maxNames) return 'other'
    names.add(name)
    return name
  }
  const unsubscribe = log.onRecord(record => {
    const servedBy = label(record.servedBy?.name)
    if (record.kind === 'embedding') {
      embeddings.inc({ api: record.api, outcome: record.outcome, served_by: servedBy })
      if (record.outcome === 'ok' && record.inputs != null) embeddingInputs.inc({ served_by: servedBy }, record.inputs)
      return
    }
    completions.inc({ api: record.api, outcome: record.outcome, served_by: servedBy })
    duration.observe({ api: record.api, outcome: record.outcome }, record.durationMs / 1000)
    if (record.ttftMs != null) ttft.observe({ api: record.api }, record.ttftMs / 1000)
    if (record.completionTokens != null && record.completionTokens > 0) tokens.inc({ served_by: servedBy }, record.completionTokens)
    if (record.promptTokens != null && record.promptTokens > 0) {
      const cached = Math.min(record.cachedTokens ?? 0, record.promptTokens)
      if (cached > 0) promptTokens.inc({ cached: 'true' }, cached)
      if (record.promptTokens > cached) promptTokens.inc({ cached: 'false' }, record.promptTokens - cached)
    }
    if (record.attempts > 1) retries.inc({ api: record.api }, record.attempts - 1)
    if (record.handovers != null && record.handovers.length > 0) handovers.inc({ api: record.api }, record.handovers.length)
  })
  return unsubscribe
}
