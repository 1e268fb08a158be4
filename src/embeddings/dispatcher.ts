// Routes one embedding request like a completion: the pure router orders the peers serving the
// model (tiers, load, prefer_local, breakers), and an attempt that fails is retried on the next one
// (bounded). Nothing streams, so every failure is "before the first token". A peer whose server
// refused to embed the model is skipped for it afterwards (refusals.ts).
import type { Logger } from '../log.js'
import { route, type RouteCandidate, type RoutingPolicy } from '../routing/router.js'
import type { Breakers } from '../routing/breaker.js'
import { AbortedError, BadRequestError, NoPeerError, UnknownModelError, toCompletionError, type CompletionError } from '../completion/errors.js'
import type { NodeRef } from '../completion/service.js'
import { EmbeddingRefusedError, isRefusal } from './errors.js'
import { createRefusals, MAX_REFUSALS } from './refusals.js'
import type { BoundedRegistry } from '../util/bounded-registry.js'
import type { EmbeddingRequest, EmbeddingResult, EmbedOptions } from './types.js'
import type { EmbeddedBy, EmbeddingService } from './service.js'

export type EmbedRunner = (candidate: RouteCandidate, request: EmbeddingRequest, options: EmbedOptions) => Promise<EmbeddingResult>

export interface EmbedDispatcherInit {
  selfId: string
  candidates: () => RouteCandidate[]
  policy: RoutingPolicy
  breakers: Breakers
  run: EmbedRunner
  /** Attempts after the first (as for completions). */
  maxRetries: number
  /** Called as each attempt starts (the request journal counts them). */
  onAttempt?: (node: NodeRef) => void
  now?: () => number
  /** Where `embeddings.refusals` is registered with its bound. */
  bounded?: BoundedRegistry
  logger?: Logger
}

export function createEmbedDispatcher (init: EmbedDispatcherInit): EmbeddingService {
  const now = init.now ?? Date.now
  const refusals = createRefusals()
  init.bounded?.register({ name: 'embeddings.refusals', limit: MAX_REFUSALS, size: () => refusals.size })
  return {
    async embed (request, options) {
      const all = init.candidates()
      const decision = route({ candidates: all, request: { model: request.model, ...(request.tier != null ? { tier: request.tier } : {}) }, selfId: init.selfId, policy: init.policy, breakers: init.breakers.isOpen, now: now() })
      if (!decision.ok) throw decision.code === 'unknown_model' ? new UnknownModelError(decision.reason) : new NoPeerError(decision.reason)
      const candidates = decision.candidates.filter(c => !refusals.refused(c.id, request.model, c.models))
      if (candidates.length === 0) {
        throw new BadRequestError(`no peer serving "${request.model}" can embed with it: ${decision.candidates.map(c => c.name).join(', ')} refused before`)
      }
      let attempts = 0
      let lastError: CompletionError | undefined
      for (const candidate of candidates) {
        if (attempts > init.maxRetries) break
        if (options.signal.aborted) throw new AbortedError('client went away')
        if (!init.breakers.acquire(candidate.id, now())) continue
        attempts++
        const node: NodeRef = { name: candidate.name, peer_id: candidate.id, tier: candidate.tier }
        init.onAttempt?.(node)
        try {
          const result = await init.run(candidate, request, options)
          init.breakers.success(candidate.id)
          return { result, node, attempts } satisfies EmbeddedBy
        } catch (thrown) {
          const err = toCompletionError(thrown)
          if (options.signal.aborted) {
            init.breakers.release(candidate.id)
            throw new AbortedError('client went away')
          }
          // A refusal, a bad request or a busy peer is no sign of a broken peer.
          if (err.status < 500) init.breakers.release(candidate.id)
          else init.breakers.failure(candidate.id, now())
          if (isRefusal(thrown)) {
            refusals.record(candidate.id, request.model, candidate.models)
            init.logger?.info({ peer: candidate.id }, `${candidate.name} cannot embed with ${request.model}; not offering it there again until its models change`)
            // The client learns which peer refused and why (the server's own words).
            lastError = new EmbeddingRefusedError(`peer ${candidate.name}: ${err.message}`)
            continue
          }
          if (!err.retryable) throw err
          init.logger?.warn({ peer: candidate.id, code: err.code }, `embedding on ${candidate.name} failed: ${err.message}; trying the next peer`)
          lastError = err
        }
      }
      // Every peer refused the model (a client's mistake, 400) or failed (503).
      if (lastError != null && lastError.status < 500 && lastError.code !== 'busy') throw lastError
      throw new NoPeerError(lastError != null
        ? `no peer could embed after ${attempts} attempt(s); last error: ${lastError.message}`
        : 'no peer could embed: every candidate is unavailable')
    }
  }
}
