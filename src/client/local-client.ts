// A peer running in this process as an LlmClient: the same calls as a RemoteClient, without HTTP.
import type { CompletionService } from '../completion/service.js'
import type { ClusterJson } from '../api/cluster-json.js'
import { createLlmClient } from './llm-client.js'
import type { LlmClient } from './types.js'

/** What the client needs from the peer: its completion service (routing included) and its view. */
export interface LocalClientSource {
  completions: () => CompletionService
  cluster: () => ClusterJson
}

/**
 * Completions are routed exactly as the peer's HTTP API routes them (served locally or by
 * another peer). Closing the client aborts its own calls only; the peer keeps running.
 */
export function createLocalClient (peer: LocalClientSource): LlmClient {
  return createLlmClient({
    async complete (request, options) {
      const served = await peer.completions().complete(request, { signal: options.signal, onDelta: options.onDelta })
      return { ...served.result, node: served.node }
    },
    models: async () => peer.completions().models(),
    cluster: async () => peer.cluster(),
    // The peer belongs to whoever created it: `peer.stop()` ends it.
    close: async () => {}
  })
}
