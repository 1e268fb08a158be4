import type { Logger } from '../log.js'
import { isAnyModel, route, type RouteCandidate, type RoutingPolicy } from '../routing/router.js'
import type { Breakers } from '../routing/breaker.js'
import type { AffinityConfig, RoutePolicyName } from '../routing/affinity-config.js'
import type { InFlight } from '../routing/in-flight.js'
import type { PrefixIndex } from '../routing/prefix-index.js'
import { promptPrint } from '../routing/prompt-print.js'
import { AbortedError, NoPeerError, TimeoutError, UnavailableError, UnknownModelError, toCompletionError, type CompletionError } from './errors.js'
import type { CompletionService, ModelInfo, NodeRef, ServeOptions, Served } from './service.js'
import type { BackendRequest, CompleteOptions, CompletionRequest, CompletionResult } from './types.js'
import { budgetSpent, combineAnswer, continuationCandidates, continuedRequest, DEFAULT_MAX_HANDOVERS, refuseHandover, type Delivered } from './continuation.js'

export type Runner = (candidate: RouteCandidate, request: BackendRequest, options: CompleteOptions) => Promise<CompletionResult>

/**
 * What the router learns as requests go (issue 23), kept here and handed to the pure `route()`
 * as data: requests in flight per peer, and which prompt prefixes went where.
 */
export interface RouteState {
  policy: RoutePolicyName
  inFlight: InFlight
  index: PrefixIndex
  config: AffinityConfig
  /** Tie-breaks among equal peers; Math.random in production, seeded in tests. */
  random: () => number
}

export interface DispatcherInit {
  selfId: string
  /** Everyone who might serve: the view's members plus HTTP-only listed nodes. */
  candidates: () => RouteCandidate[]
  policy: RoutingPolicy
  breakers: Breakers
  /** Runs on the candidate (local backend, mesh stream or HTTP), chosen by `candidate.via`. */
  run: Runner
  /** Attempts after the first that fail before their first token (DESIGN: default 2). */
  maxRetries: number
  /** Each attempt's own bound until its first token (or its whole answer when not streamed). */
  firstTokenTimeoutMs: number
  /** After the first token, the longest pause between tokens before the peer is given up on (default firstTokenTimeoutMs). */
  interTokenTimeoutMs?: number
  /** Handing an answer to another peer when its peer dies mid-answer (continuation.ts); default on, 2 handovers. */
  continuation?: { enabled: boolean, maxHandovers: number }
  /** Absent: the `announced` policy (announced or trailer load only, ties by name). */
  routeState?: RouteState
  now?: () => number
  logger?: Logger
}

/**
 * How often an attempt still waiting for its first token checks that its peer is alive. A stopped or
 * partitioned peer leaves the stream (or a re-dial) hanging until the first-token timeout; the
 * failure detector's verdict (issue 7: within 3 s) should end the wait instead.
 */
const PEER_CHECK_MS = 100

/**
 * The failover loop around the pure router: try candidates in order; a failure before the
 * first token moves on to the next (bounded). A failure after it hands the answer to another
 * peer serving the same model, which continues from the text already delivered (bounded
 * handovers); where that cannot be, the answer ends with an error (never a silent truncation).
 * Breakers learn from every attempt.
 */
export function createDispatcher (init: DispatcherInit): CompletionService {
  const now = init.now ?? Date.now
  const watch = watchWaitingAttempts(init.candidates)
  const interTokenTimeoutMs = init.interTokenTimeoutMs ?? init.firstTokenTimeoutMs
  const continuation = init.continuation ?? { enabled: true, maxHandovers: DEFAULT_MAX_HANDOVERS }

  const complete = async (request: CompletionRequest, options: ServeOptions): Promise<Served> => {
    const pin = (all: RouteCandidate[]): RouteCandidate[] => request.peer != null ? all.filter(c => c.id === request.peer || c.name === request.peer) : all
    const pinned = pin(init.candidates())
    if (request.peer != null && pinned.length === 0) throw new NoPeerError(`no peer named "${request.peer}" in the view`)
    const state = init.routeState
    // Hashed once per request (a few µs for a long prompt); every decision below reuses it.
    const print = state?.policy === 'affinity' ? promptPrint(request, state.config.blockChars) : undefined
    const decide = (candidates: RouteCandidate[], model = request.model): ReturnType<typeof route> => {
      const at = now()
      return route({
        candidates,
        request: { model, tier: request.tier },
        selfId: init.selfId,
        policy: init.policy,
        breakers: init.breakers.isOpen,
        now: at,
        ...(state != null && state.policy !== 'announced' ? { balance: { inFlight: state.inFlight.counts(), random: state.random } } : {}),
        ...(state != null && print != null ? { affinity: { print, lookup: state.index.lookup(print, at), config: state.config } } : {})
      })
    }
    const decision = decide(pinned)
    if (!decision.ok) {
      throw decision.code === 'unknown_model' ? new UnknownModelError(decision.reason) : new NoPeerError(decision.reason)
    }

    const continueOn = continuation.enabled && request.continue !== false
    // With continuation on, the text is collected even for a non-streaming caller: a handover needs it.
    const collect = options.onDelta != null || continueOn
    let attempts = 0
    let lastError: CompletionError | undefined
    let candidates = decision.candidates
    let rerouted = false
    const tried = new Set<string>()
    // What earlier attempts delivered, once an answer is handed over; `handing` holds the model it continues.
    const delivered: Delivered = { text: '', tokens: 0 }
    let handing: { model: string, digest?: string } | undefined
    const passedThrough: NodeRef[] = []
    let committedOnce = false
    for (let i = 0; ; i++) {
      if (i === candidates.length) {
        // All decided candidates failed: route once more from the view as it is now. A peer that
        // came back meanwhile (restarted, or cleared of a false suspicion) still gets its turn
        // within the retry budget, instead of a 503 while it serves (chaos test, issue 7).
        if (rerouted || handing != null) break
        rerouted = true
        const again = decide(pin(init.candidates()))
        candidates = again.ok ? again.candidates.filter(c => !tried.has(c.id)) : []
        i = -1
        continue
      }
      const candidate = candidates[i] as RouteCandidate & { reason: string }
      // A handover tries each peer serving the model once; refuseHandover bounds the handovers.
      if (handing == null && attempts > init.maxRetries) break
      if (options.signal.aborted) throw new AbortedError('client went away')
      if (!init.breakers.acquire(candidate.id, now())) continue
      attempts++
      tried.add(candidate.id)
      const node: NodeRef = { name: candidate.name, peer_id: candidate.id, tier: candidate.tier }
      options.onAttempt?.(node, candidate.reason)
      init.logger?.debug({ peer: candidate.id, attempt: attempts }, `routing to ${candidate.name}: ${candidate.reason}`)
      // Counted from the moment it is sent: the next decision, even a microsecond later, sees it.
      const release = state?.inFlight.start(candidate.id)
      const model = handing?.model ?? (isAnyModel(request.model) ? (candidate.models[0] ?? '') : (request.model ?? ''))
      const attemptRequest: BackendRequest = handing != null ? continuedRequest({ ...request, model }, delivered) : { ...request, model }
      const attempt = new AbortController()
      const firstToken = setTimeout(() => { attempt.abort(new TimeoutError(`no first token from ${candidate.name} within ${init.firstTokenTimeoutMs} ms`)) }, init.firstTokenTimeoutMs)
      let nextToken: NodeJS.Timeout | undefined
      const onClientAbort = (): void => { attempt.abort(new AbortedError('client went away')) }
      options.signal.addEventListener('abort', onClientAbort, { once: true })
      // After the first token a dead peer's stream fails by itself (its connection is closed).
      if (candidate.via !== 'local') watch.add(attempt, candidate, model)
      let committed = false
      let text = ''
      let tokens = 0
      const commit = (): void => {
        if (committed) return
        committed = true
        // Warm from the first token on: the backend has evaluated the prompt by then. Recorded any
        // sooner, a prompt still being evaluated would draw its twins into the same queue instead
        // of to idle peers (concurrent first turns of one agent).
        if (print != null) state?.index.record(print, candidate.id, now())
        clearTimeout(firstToken)
        watch.remove(attempt)
        // A peer that stops sending mid-answer (a hung host) is given up on like a dead one.
        nextToken = setTimeout(() => { attempt.abort(new TimeoutError(`no token from ${candidate.name} for ${interTokenTimeoutMs} ms`)) }, interTokenTimeoutMs)
        if (committedOnce) return
        committedOnce = true
        options.onCommit?.(node)
      }
      try {
        const result = await init.run(candidate, attemptRequest, {
          signal: attempt.signal,
          onDelta: !collect
            ? undefined
            : delta => {
              commit()
              nextToken?.refresh()
              text += delta.content
              tokens += delta.tokens ?? 1
              options.onDelta?.(delta)
            }
        })
        init.breakers.success(candidate.id)
        commit()
        if (passedThrough.length > 0) {
          init.logger?.info({ peer: candidate.id, handovers: passedThrough.length }, `answer continued by ${candidate.name} after ${delivered.tokens} token(s) from ${passedThrough.map(n => n.name).join(', ')}`)
        }
        return { result: combineAnswer(delivered, result), node, reason: candidate.reason, attempts, handovers: passedThrough }
      } catch (thrown) {
        const reason = attempt.signal.reason
        const err = attempt.signal.aborted && reason instanceof Error ? toCompletionError(reason) : toCompletionError(thrown)
        if (options.signal.aborted) {
          init.breakers.release(candidate.id)
          throw new AbortedError('client went away')
        }
        // A busy peer is healthy, and a bad request is the caller's fault: neither trips the breaker.
        if (err.code === 'busy' || err.code === 'bad_request' || err.code === 'unknown_model') init.breakers.release(candidate.id)
        else init.breakers.failure(candidate.id, now())
        if (committed) {
          delivered.text += text
          delivered.tokens += tokens
          if (continueOn && budgetSpent(request, delivered)) {
            // Every token the client asked for arrived before the peer died: nothing to continue.
            const whole: CompletionResult = { message: { role: 'assistant', content: delivered.text }, finish_reason: 'length', model, usage: { prompt_tokens: 0, completion_tokens: delivered.tokens } }
            return { result: whole, node, reason: candidate.reason, attempts, handovers: passedThrough }
          }
          const refused = refuseHandover(err, attemptRequest, { enabled: continueOn, handovers: passedThrough.length, maxHandovers: continuation.maxHandovers, delivered: delivered.text })
          const next = refused == null ? handoverCandidates(model, candidate, tried) : []
          if (next.length === 0 && options.onDelta == null && err.retryable) {
            // A whole (non-streamed) answer has shown the client nothing yet: it can start over
            // elsewhere, as before continuation existed, whatever stopped the handover.
            delivered.text = ''
            delivered.tokens = 0
            handing = undefined
            passedThrough.length = 0
            init.logger?.warn({ peer: candidate.id, code: err.code }, `${candidate.name} failed mid-answer (${err.message}); starting the answer over on the next peer`)
            lastError = err
            continue
          }
          if (next.length === 0) {
            if (refused == null) init.logger?.warn({ peer: candidate.id }, `${candidate.name} failed after ${delivered.tokens} token(s) and no other peer serves ${model}: ${err.message}`)
            throw err
          }
          init.logger?.warn({ peer: candidate.id, code: err.code }, `${candidate.name} failed after ${delivered.tokens} token(s) (${err.message}); handing the answer to ${next[0]?.name ?? '?'}`)
          handing = { model, digest: handing?.digest ?? candidate.digests?.[model] }
          passedThrough.push(node)
          candidates = next
          i = -1
          continue
        }
        if (!err.retryable) throw err
        init.logger?.warn({ peer: candidate.id, code: err.code }, `attempt on ${candidate.name} failed before its first token: ${err.message}; trying the next peer`)
        lastError = err
      } finally {
        release?.()
        clearTimeout(firstToken)
        clearTimeout(nextToken)
        watch.remove(attempt)
        options.signal.removeEventListener('abort', onClientAbort)
      }
    }
    throw new NoPeerError(lastError != null
      ? `no peer could serve the request after ${attempts} attempt(s); last error: ${lastError.message}`
      : 'no peer could serve the request: every candidate is unavailable')

    /** Who may continue an answer `failed` wrote with `model`: routed as the request was, same model and digest. */
    function handoverCandidates (model: string, failed: RouteCandidate, triedIds: ReadonlySet<string>): Array<RouteCandidate & { reason: string }> {
      const again = decide(pin(init.candidates()), model)
      if (!again.ok) return []
      const digest = handing?.digest ?? failed.digests?.[model]
      const allowed = new Set(continuationCandidates(again.candidates, model, digest, triedIds).map(c => c.id))
      return again.candidates.filter(c => allowed.has(c.id))
    }
  }

  const models = (): ModelInfo[] => {
    const byModel = new Map<string, NodeRef[]>()
    for (const c of init.candidates()) {
      if (!c.enabled || c.state !== 'alive') continue
      for (const m of c.models) {
        const list = byModel.get(m) ?? []
        list.push({ name: c.name, peer_id: c.id, tier: c.tier })
        byModel.set(m, list)
      }
    }
    return [...byModel.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([name, nodes]) => ({ name, nodes }))
  }

  return { complete, models }
}

/**
 * Attempts still waiting for their first token on a remote peer, checked together every
 * PEER_CHECK_MS by one timer that runs only while there are any (a timer per attempt showed in
 * the routed-path profile). A dead verdict aborts the wait. Suspicion aborts it only when another
 * alive peer serves the same model: a suspect peer may merely be slow (a busy host), and abandoning
 * the only candidate turns a short wait into a 503, but a frozen one (SIGSTOP, a VM pause) must
 * not hold a request until its verdict when someone else could answer now (issue 7: routed around
 * within 3 s). A peer that left drains the work it already accepted.
 */
function watchWaitingAttempts (candidates: () => RouteCandidate[]): { add: (attempt: AbortController, candidate: RouteCandidate, model: string) => void, remove: (attempt: AbortController) => void } {
  const waiting = new Map<AbortController, { candidate: RouteCandidate, model: string }>()
  let timer: NodeJS.Timeout | undefined
  const check = (): void => {
    const all = candidates()
    const states = new Map(all.map(c => [c.id, c.state]))
    if (!all.some(c => c.state === 'dead' || c.state === 'suspect')) return
    for (const [attempt, { candidate, model }] of waiting) {
      const state = states.get(candidate.id)
      if (state === 'dead') {
        attempt.abort(new UnavailableError(`${candidate.name} became dead before its first token`))
      } else if (state === 'suspect' && all.some(c => c.id !== candidate.id && c.state === 'alive' && c.enabled && c.models.includes(model))) {
        attempt.abort(new UnavailableError(`${candidate.name} became suspect before its first token, and another peer serves ${model}`))
      }
    }
  }
  return {
    add (attempt, candidate, model) {
      waiting.set(attempt, { candidate, model })
      if (timer == null) {
        timer = setInterval(check, PEER_CHECK_MS)
        timer.unref()
      }
    },
    remove (attempt) {
      if (!waiting.delete(attempt) || waiting.size > 0 || timer == null) return
      clearInterval(timer)
      timer = undefined
    }
  }
}
