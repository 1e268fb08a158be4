// The serving peer's own token cap on every run of its backend, whoever asked (HTTP on this peer
// or a mesh peer). Each peer enforces its own, so an entry peer with other settings (or an older
// version) cannot make this one generate without end; the wall-clock bound is the drain's
// (drainableBackend with the backend deadline, peer.ts), one controller for both.
import { withComplete } from './backend-wrapper.js'
import { requestBudget } from './token-budget.js'
import type { Backend } from './types.js'

export interface BackendBounds {
  /** Tokens one request may generate here; 0 = no cap beyond the backend's own. */
  maxTokensCap: number
}

/** `backend` with every completion's max_tokens capped; everything else passes straight through. */
export function boundedBackend (backend: Backend, bounds: BackendBounds): Backend {
  return withComplete(backend, async (request, options) => {
    const maxTokens = requestBudget(backend.kind, request.max_tokens, bounds.maxTokensCap, backend.defaultMaxTokens)
    const bounded = maxTokens === request.max_tokens ? request : { ...request, max_tokens: maxTokens }
    return await backend.complete(bounded, options)
  })
}
