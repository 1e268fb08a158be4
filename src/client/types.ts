// The one client interface agent code programs against, whether the model runs in this process
// (`peer.client()`) or behind a peer's HTTP API (`createRemoteClient`).
import type { ModelInfo, NodeRef } from '../completion/service.js'
import type { CompletionRequest, CompletionResult } from '../completion/types.js'
import type { ClusterJson } from '../api/cluster-json.js'

export interface CallOptions {
  /**
   * Aborting it stops the call (and the generation on the serving peer). Without one, a default
   * bound applies (DEFAULT_COMPLETION_TIMEOUT_MS, DEFAULT_QUERY_TIMEOUT_MS).
   */
  signal?: AbortSignal
}

/** A whole answer, and which peer served it. */
export interface CompletionAnswer extends CompletionResult {
  node: NodeRef
}

/** What `stream()` yields: text deltas as they come, then exactly one `done` with the whole answer. */
export type StreamEvent =
  | { type: 'delta', content: string }
  | { type: 'done', answer: CompletionAnswer }

export interface LlmClient extends AsyncDisposable {
  /** One completion, routed to the best peer for its model and tier; tool calls come back in `message.tool_calls`. */
  complete: (request: CompletionRequest, options?: CallOptions) => Promise<CompletionAnswer>
  /**
   * The same completion streamed. The request is sent when iteration begins; leaving the loop
   * early (break, throw) aborts it. Errors are thrown from the loop.
   */
  stream: (request: CompletionRequest, options?: CallOptions) => AsyncIterable<StreamEvent>
  /** Every model the mesh serves, with the peers serving it. */
  models: (options?: CallOptions) => Promise<ModelInfo[]>
  /** The cluster view as the peer sees it (the same JSON as `GET /api/cluster`). */
  cluster: (options?: CallOptions) => Promise<ClusterJson>
  /** Aborts the calls in flight and refuses new ones. Idempotent. It never stops a peer. */
  close: () => Promise<void>
  /** `close()`, for `await using client = …`. */
  [Symbol.asyncDispose]: () => Promise<void>
}
