import type { Backend } from './types.js'

/**
 * `backend` with its `complete` replaced and everything else passed straight through: the
 * shape of every layer the peer puts around its backend (drain, bounds, continuation).
 */
export function withComplete (backend: Backend, complete: Backend['complete']): Backend {
  return {
    get kind () { return backend.kind },
    get url () { return backend.url },
    get capacity () { return backend.capacity },
    get defaultMaxTokens () { return backend.defaultMaxTokens },
    models: async signal => await backend.models(signal),
    ...(backend.digests != null ? { digests: backend.digests } : {}),
    health: async signal => await backend.health(signal),
    close: async () => { await backend.close() },
    complete
  }
}
