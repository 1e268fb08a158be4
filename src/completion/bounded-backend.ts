// The serving peer's own bounds on every run of its backend, whoever asked (HTTP on this peer or a
// mesh peer): the token cap and the wall-clock deadline. Each peer enforces its own, so an entry
// peer with other settings (or an older version) cannot make this one generate without end.
import { withComplete } from './backend-wrapper.js'
import type { Deadline } from './deadline.js'
import { requestBudget } from './token-budget.js'
import type { Backend } from './types.js'

export interface BackendBounds {
  /** Tokens one request may generate here; 0 = no cap beyond the backend's own. */
  maxTokensCap: number
  /** Wall-clock bound on each backend run; absent when an outer layer applies it (drainableBackend). */
  deadline?: Deadline
}

/** `backend` with every completion capped and bounded in time; everything else passes straight through. */
export function boundedBackend (backend: Backend, bounds: BackendBounds): Backend {
  return withComplete(backend, async (request, options) => {
    const maxTokens = requestBudget(backend.kind, request.max_tokens, bounds.maxTokensCap)
    const bounded = maxTokens === request.max_tokens ? request : { ...request, max_tokens: maxTokens }
    if (bounds.deadline == null) return await backend.complete(bounded, options)
    // Field by field (every CompleteOptions field), as drain.ts: a spread here cost microseconds per completion.
    return await bounds.deadline.run(options.signal, async signal => await backend.complete(bounded, { signal, onDelta: options.onDelta }))
  })
}
