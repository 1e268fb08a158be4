import type { PeerId } from '@libp2p/interface'
import type { Logger } from '../log.js'
import type { MeshNode } from '../mesh/node.js'
import { whileUsingConnection } from '../mesh/connection-use.js'
import type { Membership } from '../membership/service.js'
import type { Load } from '../membership/types.js'
import type { ViewChange } from '../membership/view.js'
import { closeStreamPool, completeOverMesh, MAX_IDLE_STREAMS_PER_PEER, pooledStreams, registerCompletionHandler, type CompletionHandler } from '../protocol/index.js'
import { MAX_CONNECTIONS } from '../mesh/constants.js'
import type { BoundedRegistry } from '../util/bounded-registry.js'
import { candidatesFromView, type RouteCandidate, type RoutingPolicy } from '../routing/router.js'
import { createBreakers, type Breakers } from '../routing/breaker.js'
import { MAX_TRACKED_PEERS } from '../util/capped.js'
import { cachedPeerId, recordTrailerLoad, type TrailerLoad } from './peer-caches.js'
import { createDispatcher } from './dispatcher.js'
import { DEFAULT_AFFINITY_CONFIG, DEFAULT_ROUTE_POLICY, type AffinityConfig, type RoutePolicyName } from '../routing/affinity-config.js'
import { createInFlight } from '../routing/in-flight.js'
import { createPrefixIndex } from '../routing/prefix-index.js'
import { UnknownModelError, UnavailableError } from './errors.js'
import { createLocalExecutor, type LocalExecutor } from './local-executor.js'
import type { CompletionService } from './service.js'
import type { Backend, BackendRequest, CompleteOptions, CompletionResult } from './types.js'

export interface PeerCompletionsInit {
  node: MeshNode
  membership: Membership
  /** This peer's backend; absent for a routing-only peer. */
  backend?: Backend
  /** The models the backend serves, as announced. */
  models: () => string[]
  policy: RoutingPolicy
  /** `announced` (before issue 23), `in-flight` (counts what it sent, no herding), `affinity` (default: also prompt caches). */
  routePolicy?: RoutePolicyName
  /** Thresholds of cache-aware routing (affinity-config.ts); absent fields keep their defaults. */
  affinity?: Partial<AffinityConfig>
  /** Tie-breaks among equal peers (default Math.random); tests pass a seeded one. */
  random?: () => number
  /** Waiting requests beyond capacity before the peer answers busy. */
  maxQueue: number
  maxRetries: number
  firstTokenTimeoutMs: number
  /** After the first token, the longest pause between tokens (default firstTokenTimeoutMs). */
  interTokenTimeoutMs?: number
  /** Mid-answer handovers (continuation.ts); default on with DEFAULT_MAX_HANDOVERS. */
  continuation?: { enabled: boolean, maxHandovers: number }
  /** HTTP-only nodes from the cluster file (the seed's RemoteLLMClient path). */
  extraCandidates?: () => RouteCandidate[]
  /** Names the cluster file switches off (`enabled: false`): never routed to, whatever they announce. */
  disabledNames?: ReadonlySet<string>
  runHttp?: (candidate: RouteCandidate, request: BackendRequest, options: CompleteOptions) => Promise<CompletionResult>
  /** Where the routing and protocol structures are registered with their bounds (/metrics, the soak). */
  bounded?: BoundedRegistry
  logger: Logger
}

export interface PeerCompletions {
  service: CompletionService
  /** This peer's load right now (the announced one lags by up to a second); undefined without a backend. */
  localLoad: () => Load | undefined
  breakers: Breakers
  start: () => Promise<void>
  stop: () => Promise<void>
}

/**
 * Load goes out at most this often, and only when it changed (issue 12): every change is spread
 * to every member. Peers that route to us also see fresh load in our probe answers.
 */
const LOAD_ANNOUNCE_INTERVAL_MS = 1_000

/** Streams per connection for the completion protocol: the queue plus headroom for probes. */
const STREAM_HEADROOM = 16

function servingStreamLimit (capacity: number, maxQueue: number): number {
  return capacity + maxQueue + STREAM_HEADROOM
}

function registerBounds (bounded: BoundedRegistry | undefined, structures: ReadonlyArray<readonly [string, number, () => number]>): void {
  for (const [name, limit, size] of structures) bounded?.register({ name, limit, size })
}

/**
 * Wires completions into a peer: the local executor behind the mesh protocol handler, and the
 * dispatcher that routes every request (from HTTP) to the local backend, a mesh peer or an
 * HTTP-only node.
 */
export function createPeerCompletions (init: PeerCompletionsInit): PeerCompletions {
  const log = init.logger
  const selfId = init.node.peerId.toString()
  const breakers = createBreakers()
  let handler: CompletionHandler | undefined
  let loadTimer: NodeJS.Timeout | undefined
  let pendingLoad: Load | undefined

  let lastLoadAnnounceAt = -Infinity
  const announceLoad = (load: Load): void => {
    pendingLoad = load
    if (loadTimer != null) return
    // The first change after a quiet second goes at once; later ones wait for the window's end.
    const wait = Math.max(0, lastLoadAnnounceAt + LOAD_ANNOUNCE_INTERVAL_MS - Date.now())
    loadTimer = setTimeout(() => {
      loadTimer = undefined
      lastLoadAnnounceAt = Date.now()
      if (pendingLoad != null) init.membership.updateSelf({ load: pendingLoad })
      pendingLoad = undefined
    }, wait)
  }

  /**
   * Load the serving peers put in their `done` trailers: fresher than their announcements (which
   * go out at most once a second), and it costs no gossip. Used while newer than one announce interval.
   * Forgotten with the member and capped: an entry used to stay for every peer that ever answered
   * us and then left (it was dropped only when read as a candidate again), one more per departed peer.
   */
  const trailerLoad = new Map<string, TrailerLoad>()
  const withFreshestLoad = (c: RouteCandidate): RouteCandidate => {
    // Our own load is known exactly here; the announced one lags by up to LOAD_ANNOUNCE_INTERVAL_MS.
    if (c.via === 'local') return local != null ? { ...c, load: local.load() } : c
    const seen = trailerLoad.get(c.id)
    if (seen == null) return c
    if (Date.now() - seen.at > LOAD_ANNOUNCE_INTERVAL_MS) {
      trailerLoad.delete(c.id)
      return c
    }
    return { ...c, load: seen.load }
  }

  const local: LocalExecutor | undefined = init.backend != null
    ? createLocalExecutor({ backend: init.backend, maxQueue: init.maxQueue, onLoad: announceLoad })
    : undefined

  const runLocal = async (request: BackendRequest, options: CompleteOptions): Promise<CompletionResult> => {
    if (local == null) throw new UnavailableError('this peer has no backend')
    if (!init.models().includes(request.model)) throw new UnknownModelError(`this peer does not serve model "${request.model}"`)
    return await local.execute(request, options)
  }

  // One PeerId per member, not one per request: parsing the id and printing it back (a PeerId caches
  // its string) showed in the routed-path profile. Forgotten with the member (onViewChange).
  const peerIds = new Map<string, PeerId>()
  const peerIdOf = (id: string): PeerId => cachedPeerId(peerIds, id)

  const disabled = init.disabledNames ?? new Set<string>()
  // One pass per request over the view's candidates: the freshest load, and the cluster file's switch.
  const adjust = (c: RouteCandidate): RouteCandidate => {
    const fresh = withFreshestLoad(c)
    return disabled.has(fresh.name) ? { ...fresh, enabled: false } : fresh
  }

  const affinityConfig: AffinityConfig = { ...DEFAULT_AFFINITY_CONFIG, ...init.affinity }
  const inFlight = createInFlight()
  const index = createPrefixIndex(affinityConfig)
  const service = createDispatcher({
    selfId,
    routeState: {
      policy: init.routePolicy ?? DEFAULT_ROUTE_POLICY,
      inFlight,
      index,
      config: affinityConfig,
      random: init.random ?? Math.random
    },
    candidates: () => [
      ...candidatesFromView(init.membership.view(), init.membership.latencies()).map(adjust),
      ...(init.extraCandidates?.() ?? [])
    ],
    policy: init.policy,
    breakers,
    maxRetries: init.maxRetries,
    firstTokenTimeoutMs: init.firstTokenTimeoutMs,
    ...(init.interTokenTimeoutMs != null ? { interTokenTimeoutMs: init.interTokenTimeoutMs } : {}),
    ...(init.continuation != null ? { continuation: init.continuation } : {}),
    logger: log,
    run: async (candidate, request, options) => {
      if (candidate.via === 'local') return await runLocal(request, options)
      if (candidate.via === 'http') {
        if (init.runHttp == null) throw new UnavailableError(`no HTTP client for ${candidate.name}`)
        return await init.runHttp(candidate, request, options)
      }
      // The connection (dialed on demand if there is none) is busy for the whole attempt: never trimmed under it.
      return await whileUsingConnection(init.node, candidate.id, async () => await completeOverMesh(init.node, peerIdOf(candidate.id), request, {
        ...options,
        onLoad: load => { recordTrailerLoad(trailerLoad, candidate.id, { load, at: Date.now() }) }
      }))
    }
  })

  /**
   * A peer the view shows alive again (restarted, or back from suspicion or death) starts with a
   * closed breaker: its failures were the outage the view already acted on, and a breaker left
   * open kept the only live peer unroutable for a whole cool-down after it was back (chaos test,
   * issue 7). A peer dropped from the view is forgotten, so the registry does not grow with churn.
   */
  const onViewChange = (event: CustomEvent<ViewChange>): void => {
    const change = event.detail
    if ((change.kind === 'state' && change.to === 'alive') || change.kind === 'removed') breakers.forget(change.peerId)
    if (change.kind === 'removed') {
      peerIds.delete(change.peerId)
      trailerLoad.delete(change.peerId)
    }
  }

  const capacity = local?.load().capacity ?? 0
  registerBounds(init.bounded, [
    ['routing.prefix-blocks', affinityConfig.maxBlocks, () => index.size().blocks],
    ['routing.prefix-keys', affinityConfig.maxKeys, () => index.size().keys],
    ['routing.breakers', MAX_TRACKED_PEERS, () => breakers.size()],
    // Only busy peers have an entry, and every one is a candidate: a member (≤ MAX_TRACKED_PEERS) or
    // a cluster-file node outside the mesh (a file of that many nodes would be a 1 MiB config file).
    ['routing.in-flight', 2 * MAX_TRACKED_PEERS, () => inFlight.counts().size],
    ['completion.trailer-load', MAX_TRACKED_PEERS, () => trailerLoad.size],
    ['completion.peer-ids', MAX_TRACKED_PEERS, () => peerIds.size],
    ['protocol.pooled-streams', MAX_IDLE_STREAMS_PER_PEER * MAX_CONNECTIONS, () => pooledStreams(init.node)],
    // Inbound streams are limited per connection (maxInboundStreams), connections by MAX_CONNECTIONS.
    ...(local != null ? [['protocol.serving-streams', servingStreamLimit(capacity, init.maxQueue) * MAX_CONNECTIONS, () => handler?.streams ?? 0] as const] : [])
  ])

  return {
    localLoad: () => local?.load(),
    service,
    breakers,
    async start () {
      init.membership.addEventListener('change', onViewChange)
      if (local == null) return
      const executor = local
      const capacity = executor.load().capacity
      handler = await registerCompletionHandler(init.node, async (request, ctx) => {
        // Serving keeps the caller's connection busy too: trimming it would cut the answer.
        return await whileUsingConnection(init.node, ctx.peer.toString(), async () =>
          await runLocal(request.model != null ? request as BackendRequest : { ...request, model: init.models()[0] ?? '' }, { signal: ctx.signal, onDelta: ctx.onDelta }))
      }, { maxInboundStreams: servingStreamLimit(capacity, init.maxQueue), load: () => executor.load(), logger: log })
    },
    async stop () {
      init.membership.removeEventListener('change', onViewChange)
      clearTimeout(loadTimer)
      // Before node.stop(): the peers see our idle completion streams close cleanly, not vanish.
      closeStreamPool(init.node)
      await handler?.unregister({ abortInFlight: true })
      handler = undefined
    }
  }
}
