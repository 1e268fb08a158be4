// Routes one embedding request like a completion: the pure router orders the peers serving the
// model (tiers, load, prefer_local, breakers), and an attempt that fails is retried on the next one
// (bounded). Nothing streams, so every failure is "before the first token". A peer whose server
// refused to embed the model is skipped for it afterwards (refusals.ts).
import type { Logger } from '../log.js'
import { route, type RouteCandidate, type RoutingPolicy } from '../routing/router.js'
import type { Breakers } from '../routing/breaker.js'
import { AbortedError, NoPeerError, UnknownModelError, toCompletionError, type CompletionError } from '../completion/errors.js'
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

/** One peer that could not embed, and why: every one is named when none could. */
export interface EmbedFailure {
  peer: string
  reason: string
  /** The peer's server cannot embed with the model (now, or remembered from before). */
  refused: boolean
}

/**
 * The error when no peer could embed: each peer named with its reason, in the order tried. A 400
 * when every one refused the model (the client asked for embeddings from a model that, as served,
 * does not do them), else a 503 (someone may succeed later).
 */
export function noPeerCouldEmbed (model: string, failures: readonly EmbedFailure[], attempts: number): CompletionError {
  if (failures.length === 0) return new NoPeerError(`no peer could embed with "${model}": every candidate is unavailable`)
  const each = failures.map(f => `peer ${f.peer}: ${f.reason}`).join('; ')
  if (failures.every(f => f.refused)) return new EmbeddingRefusedError(`no peer serving "${model}" can embed with it: ${each}`)
  return new NoPeerError(`no peer could embed with "${model}" after ${attempts} attempt(s): ${each}`)
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
      const failures: EmbedFailure[] = []
      const candidates = decision.candidates.filter(c => {
        if (!refusals.refused(c.id, request.model, c.models)) return true
        failures.push({ peer: c.name, reason: `refused before (${refusals.reason(c.id, request.model) ?? 'cannot embed'})`, refused: true })
        return false
      })
      let attempts = 0
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
            refusals.record(candidate.id, request.model, candidate.models, err.message)
            init.logger?.info({ peer: candidate.id }, `${candidate.name} cannot embed with ${request.model}; not offering it there again until its models change`)
            // The client learns which peer refused and why (the server's own words).
            failures.push({ peer: candidate.name, reason: err.message, refused: true })
            continue
          }
          if (!err.retryable) throw err
          init.logger?.warn({ peer: candidate.id, code: err.code }, `embedding on ${candidate.name} failed: ${err.message}; trying the next peer`)
          failures.push({ peer: candidate.name, reason: err.message, refused: false })
        }
      }
      throw noPeerCouldEmbed(request.model, failures, attempts)
    }
  }
}
