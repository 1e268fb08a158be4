// How many tokens one request may generate on this peer. Every bound the peer knows applies: what
// the request asked for, the peer's `--max-tokens-cap`, and what the backend can hold (the
// embedded model's context minus the prompt). A request over a bound is not refused; it is
// answered up to the bound and ends with finish_reason `length`, as llama-server does.
import type { Backend } from './types.js'

/**
 * The largest max_tokens the HTTP edge passes on. No peer generates more (caps and contexts are far
 * below it), and it is the mesh protocol's own bound on the field (protocol/frames.ts), so a larger
 * request routed to another peer is capped by that peer instead of being refused as a malformed frame.
 */
export const MAX_REQUEST_TOKENS = 100_000_000

/**
 * The token budget: `requested` (undefined: as many as allowed), at most `cap` (0: no cap) and at
 * most `contextRoom` (undefined: not known here). Undefined when nothing bounds it. At least 1: a
 * backend's max_tokens is positive, and a prompt that leaves no room is refused before this is asked.
 */
export function cappedTokens (requested: number | undefined, cap: number, contextRoom?: number): number | undefined {
  let budget = requested ?? Infinity
  if (cap > 0) budget = Math.min(budget, cap)
  if (contextRoom != null) budget = Math.min(budget, contextRoom)
  return Number.isFinite(budget) ? Math.max(1, Math.floor(budget)) : undefined
}

/**
 * Backends that generate without end when a request sets no limit: Ollama's `num_predict`
 * defaults to -1 ("infinite generation"), and the embedded backend runs until the model stops or
 * its context (up to the model's training context, 128k for some) is full; a model that loops
 * never stops. They get the cap instead of nothing. OpenAI-compatible servers stop at the model's
 * context themselves — and OpenAI and vLLM answer 400 to a max_tokens above a model's limit, so
 * filling the cap in would break requests that work today.
 */
const UNBOUNDED_WHEN_UNSET: ReadonlySet<Backend['kind']> = new Set(['ollama', 'embedded'])

/**
 * The max_tokens a request carries to a backend of `kind` on a peer with `cap` (0: none).
 * `backendDefault` is the backend's own for a request that sets none (the tiny model's).
 */
export function requestBudget (kind: Backend['kind'], requested: number | undefined, cap: number, backendDefault?: number): number | undefined {
  const asked = requested ?? backendDefault
  if (asked == null && !UNBOUNDED_WHEN_UNSET.has(kind)) return undefined
  return cappedTokens(asked, cap)
}
