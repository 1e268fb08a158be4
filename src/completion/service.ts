// What the HTTP edge needs from the peer to serve completions, whatever the API dialect.
import type { CompletionDelta, CompletionRequest, CompletionResult } from './types.js'

export interface NodeRef {
  name: string
  peer_id: string
  tier: number
}

export interface ServeOptions {
  signal: AbortSignal
  /** Called once, when an attempt delivers its first delta and the answer is committed to a node. */
  onCommit?: (node: NodeRef) => void
  /** Called as each attempt starts, on the node it goes to (failover makes several), with the router's reason. */
  onAttempt?: (node: NodeRef, reason?: string) => void
  onDelta?: (delta: CompletionDelta) => void
}

export interface Served {
  result: CompletionResult
  node: NodeRef
  /** Why this node served it (`tier 2 as requested, least loaded`), for headers and the demo. */
  reason: string
  attempts: number
  /** Peers that wrote part of the answer before `node` finished it (a handover after a failure mid-answer). */
  handovers?: NodeRef[]
}

export interface ModelInfo {
  name: string
  nodes: NodeRef[]
}

export interface CompletionService {
  complete: (request: CompletionRequest, options: ServeOptions) => Promise<Served>
  /** Every model served by an alive, enabled peer. */
  models: () => ModelInfo[]
}
