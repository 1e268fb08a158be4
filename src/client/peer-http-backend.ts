// A peer reached over its HTTP API, shaped as a Backend: a node reachable only over HTTP
// (host:port + auth_token, no mesh) is then a routing candidate, and the CLI's `complete` and
// `test` use it to send one completion. Agent code uses the public RemoteClient instead.
import { UnauthorizedError, UnavailableError } from '../completion/errors.js'
import type { Backend, BackendRequest, CompleteOptions, CompletionRequest } from '../completion/types.js'
import type { ModelInfo } from '../completion/service.js'
import type { ClusterJson } from '../api/cluster-json.js'
import { createPeerHttp, type PeerHttpInit } from './peer-http.js'
import type { CompletionAnswer } from './types.js'

export interface PeerHttpBackendInit extends PeerHttpInit {
  /** Concurrent requests when used as a routing candidate (the remote peer queues the rest). */
  capacity?: number
}

export interface PeerHttpBackend extends Backend {
  /** One completion through the peer (it routes it); deltas streamed when `onDelta` is given. */
  complete: (request: CompletionRequest | BackendRequest, options: CompleteOptions) => Promise<CompletionAnswer>
  cluster: (signal?: AbortSignal) => Promise<ClusterJson>
}

export function createPeerHttpBackend (init: PeerHttpBackendInit): PeerHttpBackend {
  const http = createPeerHttp(init)
  const tokenSent = init.token != null && init.token !== ''

  // A refused token is this node's configuration, not the request: as a routing candidate another
  // peer may still serve (retryable), and the CLI words it from the message.
  const asBackendError = (err: unknown): unknown => err instanceof UnauthorizedError
    ? new UnavailableError(`${err.message} (${tokenSent ? 'the peer rejected the token' : 'the peer needs a bearer token'})`)
    : err
  const rethrow = async <T>(work: Promise<T>): Promise<T> => {
    try {
      return await work
    } catch (err) {
      throw asBackendError(err)
    }
  }

  return {
    kind: 'remote',
    capacity: init.capacity ?? 4,
    models: async signal => (await rethrow(http.getJson<{ models: ModelInfo[] }>('/api/models', signal))).models.map(m => m.name),
    cluster: async signal => await rethrow(http.getJson<ClusterJson>('/api/cluster', signal)),
    complete: async (request, options) => await rethrow(http.complete(request, options)),
    health: async signal => await http.health(signal),
    close: async () => { http.close() }
  }
}
