// Mid-stream failover by continuation: when the peer writing an answer dies after the client got
// some of it, another peer serving the same model continues from the text already delivered.
// Pure rules here (table-tested); the dispatcher runs them, the backends speak the prefix.
import type { RouteCandidate } from '../routing/router.js'
import type { CompletionError } from './errors.js'
import type { BackendRequest, CompletionResult, Usage } from './types.js'

/** Handovers per request unless configured otherwise (the "at most 2"). */
export const DEFAULT_MAX_HANDOVERS = 2

export interface HandoverState {
  /** Continuation on for this peer (`--no-continue` turns it off) and this request (`x-harombe-continue: off`). */
  enabled: boolean
  handovers: number
  maxHandovers: number
  /** Text the client already has; nothing to continue when empty. */
  delivered: string
}

/**
 * Why an answer that failed after its first token cannot be handed over, or undefined when it
 * can. Tool calls are never continued: they arrive whole at the end, so a peer that dies while
 * writing one leaves nothing a second peer could pick up.
 */
export function refuseHandover (err: Pick<CompletionError, 'retryable' | 'code'>, request: Pick<BackendRequest, 'tools'>, state: HandoverState): string | undefined {
  if (!state.enabled) return 'continuation is off'
  if (!err.retryable) return `the failure (${err.code}) would fail on any peer`
  if ((request.tools ?? []).length > 0) return 'a request with tools is not continued'
  if (state.delivered === '') return 'nothing was delivered yet'
  if (state.handovers >= state.maxHandovers) return `already handed over ${state.handovers} time(s)`
  return undefined
}

/**
 * Peers that may continue an answer written with `model` (and `digest` when known): alive, in
 * the mesh or this peer (an HTTP-only node cannot take a prefix), not tried yet for this
 * request. Same model means the same name and, when both sides report one, the same digest.
 */
export function continuationCandidates (
  candidates: readonly RouteCandidate[],
  model: string,
  digest: string | undefined,
  tried: ReadonlySet<string>
): RouteCandidate[] {
  return candidates.filter(c =>
    !tried.has(c.id) && c.via !== 'http' && c.models.includes(model) &&
    (digest == null || c.digests?.[model] == null || c.digests[model] === digest))
}

/**
 * The request a continuing peer gets: the original, bound to the same model, plus the prefix, and
 * a token budget less what was delivered, so the whole answer stays within the client's max_tokens.
 */
export function continuedRequest (request: BackendRequest, delivered: Delivered): BackendRequest {
  const continued: BackendRequest = { ...request, continuation: { prefix: delivered.text } }
  if (request.max_tokens != null) continued.max_tokens = Math.max(1, request.max_tokens - delivered.tokens)
  return continued
}

/** The client's max_tokens was used up before the peer died: the answer is whole, ended by its length. */
export function budgetSpent (request: Pick<BackendRequest, 'max_tokens'>, delivered: Delivered): boolean {
  return request.max_tokens != null && delivered.tokens >= request.max_tokens
}

/** What the attempts before the last one produced, for the one answer the client sees. */
export interface Delivered {
  text: string
  /** Completion tokens the earlier attempts streamed (counted from their deltas). */
  tokens: number
}

/**
 * The answer the client sees after handovers: the delivered text plus the last peer's, one
 * finish reason (the last's), completion tokens of every attempt. The last peer's prompt counted
 * the delivered text as prompt; the first attempt's prompt did not, so it is taken off again.
 * Cached tokens are the last peer's (the failed attempts sent no trailer), at most the client's
 * prompt: its cache may have held part of the delivered text too, which the client did not send.
 */
export function combineAnswer (before: Delivered, last: CompletionResult): CompletionResult {
  if (before.text === '') return last
  const usage: Usage = {
    prompt_tokens: Math.max(0, last.usage.prompt_tokens - before.tokens),
    completion_tokens: before.tokens + last.usage.completion_tokens
  }
  const cached = last.usage.prompt_tokens_details?.cached_tokens
  if (cached !== undefined) usage.prompt_tokens_details = { cached_tokens: Math.min(cached, usage.prompt_tokens) }
  return {
    ...last,
    message: { ...last.message, content: before.text + (last.message.content ?? '') },
    usage
  }
}

/**
 * Servers differ on a continued answer: llama.cpp's server returns the prefix again at the start
 * (its first streamed delta holds the prefix plus the first new token), Ollama and others return
 * only the new text. An echo is stripped exactly once, and only when the first delta holds the
 * whole prefix: a model generates one token per delta, so new text never repeats a prefix of
 * more than one token in its first delta, and text the model really generated is kept.
 */
export interface EchoStripper {
  /** The part of `text` to pass on (the first call decides whether the prefix was echoed). */
  push: (text: string) => string
  /** Whether the prefix was echoed (undefined before the first non-empty delta). */
  echoed: () => boolean | undefined
}

export function createEchoStripper (prefix: string): EchoStripper {
  let echoed: boolean | undefined
  return {
    push (text) {
      if (echoed !== undefined || text === '') return text
      echoed = prefix !== '' && text.startsWith(prefix)
      return echoed ? text.slice(prefix.length) : text
    },
    echoed: () => echoed
  }
}

/** The whole (non-streamed) content with an echoed prefix taken off, decided as the stream would. */
export function stripEcho (prefix: string, content: string | null, echoed: boolean | undefined): string | null {
  if (content == null) return content
  const strip = echoed ?? (prefix !== '' && content.startsWith(prefix))
  return strip && content.startsWith(prefix) ? content.slice(prefix.length) : content
}
