// The seed's RemoteLLMClient: a peer's HTTP API (any peer of the mesh) as an LlmClient.
import { UnavailableError } from '../completion/errors.js'
import type { ModelInfo } from '../completion/service.js'
import type { ClusterJson } from '../api/cluster-json.js'
import type { Logger } from '../log.js'
import { createLlmClient } from './llm-client.js'
import { createPeerHttp } from './peer-http.js'
import type { LlmClient } from './types.js'

export interface RemoteClientInit {
  /** The peer's HTTP API, e.g. `http://127.0.0.1:8000`. */
  baseUrl: string
  /** The bearer token the peer was started with (`--token`, `HAROMBE_TOKEN`). */
  token?: string
  /** Bounds every call, also those given a signal; unset: only calls without a signal get a default bound. */
  timeoutMs?: number
  logger?: Logger
}

/**
 * An LlmClient talking to the peer at `baseUrl`, which routes each request across the mesh.
 * Failures are CompletionErrors named after the cause (UnauthorizedError, UnknownModelError,
 * NoPeerError, TimeoutError, …) and carry the peer's message.
 */
export function createRemoteClient (init: RemoteClientInit): LlmClient {
  const http = createPeerHttp(init)
  return createLlmClient({
    complete: http.complete,
    async models (signal) {
      const body = await http.getJson<{ models?: ModelInfo[] }>('/api/models', signal)
      if (!Array.isArray(body?.models)) throw new UnavailableError(`${http.label} answered /api/models without a model list; is it a harombe peer?`)
      return body.models
    },
    cluster: async signal => await http.getJson<ClusterJson>('/api/cluster', signal),
    close: async () => { http.close() }
  })
}
