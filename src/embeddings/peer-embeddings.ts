// Wires embeddings into a peer: this peer's backend behind the embed protocol handler (bounded
// by its own concurrency and drained on stop), and the dispatcher that routes every embedding
// request from HTTP to the local backend or a mesh peer.
import { peerIdFromString } from '@libp2p/peer-id'
import type { Logger } from '../log.js'
import type { MeshNode } from '../mesh/node.js'
import type { Membership } from '../membership/service.js'
import { candidatesFromView, type RouteCandidate, type RoutingPolicy } from '../routing/router.js'
import type { Breakers } from '../routing/breaker.js'
import { UnknownModelError, UnavailableError, BusyError } from '../completion/errors.js'
import type { Drain } from '../completion/drain.js'
import type { Deadline } from '../completion/deadline.js'
import { whileUsingConnection } from '../mesh/connection-use.js'
import { EMBED_ATTEMPT_TIMEOUT_MS, MAX_EMBED_STREAMS, MAX_IDLE_EMBED_STREAMS_PER_PEER } from './constants.js'
import { MAX_CONNECTIONS } from '../mesh/constants.js'
import { closeEmbedStreamPool, embedOverMesh, embedPooledStreams } from './client.js'
import { createEmbedDispatcher } from './dispatcher.js'
import { registerEmbedHandler, type EmbedHandler } from './handler.js'
import type { Embedder, EmbeddingRequest, EmbeddingResult, EmbedOptions } from './types.js'
import type { EmbeddingService } from './service.js'

import type { BoundedRegistry } from '../util/bounded-registry.js'

export interface PeerEmbeddingsInit {
  node: MeshNode
  membership: Membership
  /** This peer's backend's embedder; absent: it embeds nothing and only routes. */
  embed?: Embedder
  /** The models this peer announces. */
  models: () => string[]
  /** Embeddings run at once on this peer's backend; more wait in line up to `maxQueue`, then busy. */
  capacity: number
  maxQueue: number
  policy: RoutingPolicy
  breakers: Breakers
  maxRetries: number
  /** Runs of the backend are drained on graceful stop and bounded by the peer's request timeout. */
  drain?: Drain
  deadline?: Deadline
  /** Where the embedding structures are registered with their bounds (/metrics, the soak). */
  bounded?: BoundedRegistry
  /** Candidates outside the mesh view (listed nodes reachable over HTTP only), as completions have. */
  extraCandidates?: () => RouteCandidate[]
  /** Embeds on one of those over HTTP. */
  runHttp?: (candidate: RouteCandidate, request: EmbeddingRequest, options: EmbedOptions) => Promise<EmbeddingResult>
  logger: Logger
}

export interface PeerEmbeddings {
  service: EmbeddingService
  start: () => Promise<void>
  stop: () => Promise<void>
}

export function createPeerEmbeddings (init: PeerEmbeddingsInit): PeerEmbeddings {
  const selfId = init.node.peerId.toString()
  const gate = createGate(Math.max(1, init.capacity), init.maxQueue)
  let handler: EmbedHandler | undefined

  const runLocal = async (request: EmbeddingRequest, options: EmbedOptions): Promise<EmbeddingResult> => {
    const embed = init.embed
    if (embed == null) throw new UnavailableError('this peer\'s backend cannot embed')
    if (!init.models().includes(request.model)) throw new UnknownModelError(`this peer does not serve model "${request.model}"`)
    const work = async (signal: AbortSignal): Promise<EmbeddingResult> => await gate.run(signal, async () => await embed(request, { signal }))
    return init.drain != null ? await init.drain.run(options.signal, work, init.deadline) : await work(options.signal)
  }

  const service = createEmbedDispatcher({
    selfId,
    candidates: () => [...candidatesFromView(init.membership.view(), init.membership.latencies()), ...(init.extraCandidates?.() ?? [])],
    policy: init.policy,
    breakers: init.breakers,
    maxRetries: init.maxRetries,
    ...(init.bounded != null ? { bounded: init.bounded } : {}),
    logger: init.logger,
    run: async (candidate, request, options) => {
      if (candidate.via === 'local') return await runLocal(request, options)
      if (candidate.via === 'http') {
        if (init.runHttp == null) throw new UnavailableError(`no HTTP client for ${candidate.name}`)
        return await init.runHttp(candidate, request, options)
      }
      return await whileUsingConnection(init.node, candidate.id, async () =>
        await embedOverMesh(init.node, peerIdFromString(candidate.id), request, { signal: options.signal, timeoutMs: EMBED_ATTEMPT_TIMEOUT_MS }))
    }
  })

  init.bounded?.register({ name: 'embeddings.pooled-streams', limit: MAX_IDLE_EMBED_STREAMS_PER_PEER * MAX_CONNECTIONS, size: () => embedPooledStreams(init.node) })
  // Inbound streams are limited per connection (MAX_EMBED_STREAMS), connections by MAX_CONNECTIONS.
  if (init.embed != null) init.bounded?.register({ name: 'embeddings.serving-streams', limit: MAX_EMBED_STREAMS * MAX_CONNECTIONS, size: () => handler?.streams ?? 0 })

  return {
    service,
    async start () {
      if (init.embed == null) return
      handler = await registerEmbedHandler(init.node, async (request, ctx) =>
        await whileUsingConnection(init.node, ctx.peer.toString(), async () => await runLocal(request, { signal: ctx.signal })),
      { maxInboundStreams: MAX_EMBED_STREAMS, logger: init.logger })
    },
    async stop () {
      // Idle streams to other peers close cleanly before the node stops.
      closeEmbedStreamPool(init.node)
      await handler?.unregister({ abortInFlight: true })
      handler = undefined
    }
  }
}

/** At most `capacity` runs at once, a FIFO of `maxQueue` behind them, then BusyError (retryable elsewhere). */
function createGate (capacity: number, maxQueue: number): { run: <T>(signal: AbortSignal, work: () => Promise<T>) => Promise<T> } {
  let active = 0
  const waiting: Array<() => void> = []
  return {
    async run (signal, work) {
      if (active >= capacity) {
        if (waiting.length >= maxQueue) throw new BusyError(`embeddings at capacity (${active} running, ${waiting.length} queued)`)
        await new Promise<void>((resolve, reject) => {
          const start = (): void => { signal.removeEventListener('abort', onAbort); resolve() }
          const onAbort = (): void => {
            const i = waiting.indexOf(start)
            if (i >= 0) waiting.splice(i, 1)
            reject(signal.reason)
          }
          signal.addEventListener('abort', onAbort, { once: true })
          waiting.push(start)
        })
      } else {
        active++
      }
      try {
        return await work()
      } finally {
        const next = waiting.shift()
        if (next != null) next()
        else active--
      }
    }
  }
}
