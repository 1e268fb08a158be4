// The one internal completion type. OpenAI, Ollama and the seed's /api/complete are adapters
// at the HTTP edge; backends and the mesh protocol speak only this.
import type { Tier } from '../membership/types.js'
import type { Embedder } from '../embeddings/types.js'
import type { ModelInfoSource } from '../model-info/types.js'

export interface ToolCall {
  id: string
  type: 'function'
  function: { name: string, arguments: string }
}

export interface ToolDefinition {
  type: 'function'
  function: { name: string, description?: string, parameters?: Record<string, unknown> }
}

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant' | 'tool'
  content: string | null
  tool_calls?: ToolCall[]
  /** For `role: 'tool'`: which call this answers. */
  tool_call_id?: string
  name?: string
}

export interface CompletionRequest {
  messages: ChatMessage[]
  tools?: ToolDefinition[]
  /** 0 means greedy and must stay 0 end to end. */
  temperature?: number
  max_tokens?: number
  /** Exact model name, or `auto` / undefined for any model. */
  model?: string
  tier?: Tier
  stop?: string[]
  /** Pin the request to one peer (name or peer id): `harombe-peer test` checks each peer this way. */
  peer?: string
  /**
   * Hand the answer to another peer if its serving peer dies after the first token (default on;
   * `--no-continue` on the entry peer or `x-harombe-continue: off` per request turn it off).
   */
  continue?: boolean
  /**
   * Set by the entry peer when it hands an unfinished answer over: the assistant text the client
   * already has. The backend continues it (a trailing assistant message) and returns only new text.
   */
  continuation?: { prefix: string }
  /**
   * A client-named conversation for routing affinity (issue 23): OpenAI `prompt_cache_key` (else
   * `user`), header `x-harombe-session`, and their Ollama and `/api/complete` equivalents. Requests
   * with the same key go to the same peer while it is fit to serve them.
   */
  affinity_key?: string
  /** OpenAI-compatible backends receive these unchanged (llama-server's `cache_prompt`, OpenAI's `prompt_cache_key`). */
  prompt_cache_key?: string
  cache_prompt?: boolean
  /** Ollama backends receive this unchanged: how long the model stays loaded after the request. */
  keep_alive?: string | number
  /**
   * A raw prompt (`POST /v1/completions`): the one user message's text goes to the model as it is,
   * without a chat template; no tools. Backends send it as a text completion (raw-prompt.ts).
   */
  raw?: boolean
}

/** A request bound to one concrete model, as a backend receives it. */
export interface BackendRequest extends CompletionRequest {
  model: string
}

export type FinishReason = 'stop' | 'length' | 'tool_calls'

export interface Usage {
  prompt_tokens: number
  completion_tokens: number
  /** OpenAI's field: prompt tokens the backend took from its cache instead of evaluating. Absent: not known. */
  prompt_tokens_details?: { cached_tokens: number }
}

export interface CompletionResult {
  message: { role: 'assistant', content: string | null, tool_calls?: ToolCall[] }
  finish_reason: FinishReason
  model: string
  usage: Usage
}

/** Streamed text. Tool calls arrive whole in the result, never as deltas. */
export interface CompletionDelta {
  content: string
  /**
   * How many backend deltas (about one token each) this one merges; absent means one. The mesh
   * batches deltas into frames, and a handover counts the tokens the client already has.
   */
  tokens?: number
}

export interface CompleteOptions {
  /** Aborted when the client leaves or a timeout fires: stop generating at once. */
  signal: AbortSignal
  onDelta?: (delta: CompletionDelta) => void
}

export type Health = { ok: true, latencyMs: number } | { ok: false, reason: string }

export interface Backend {
  readonly kind: 'embedded' | 'ollama' | 'openai' | 'multi' | 'remote' | 'test'
  /** The server it talks to, for messages ("the ollama backend at …"); absent in-process. */
  readonly url?: string
  /** How many completions it runs at once; more are queued by the peer. */
  readonly capacity: number
  /**
   * Tokens a request without max_tokens gets here, for a model that never stops by itself (the
   * tiny model). Absent: such a request runs until the model stops, within the peer's cap.
   */
  readonly defaultMaxTokens?: number
  /** Why it cannot serve yet (a model still loading after the peer started), or undefined: /readyz says it. */
  readonly loading?: () => string | undefined
  models: (signal?: AbortSignal) => Promise<string[]>
  /**
   * Content digests by model name where the backend knows them (GGUF sha256, Ollama's digest),
   * full hex; filled as a side effect of `models()` or a background hash. Absent: none known.
   */
  digests?: () => Readonly<Record<string, string>>
  complete: (request: BackendRequest, options: CompleteOptions) => Promise<CompletionResult>
  health: (signal?: AbortSignal) => Promise<Health>
  /** What it fronts, for `status` ("ollama 127.0.0.1:11434: a, b · …"); absent: its kind and URL with the announced models. */
  describe?: () => string
  close: () => Promise<void>
  /** Embeddings (issue 29); absent on a backend that cannot embed. The peer routes them like completions. */
  embed?: Embedder
  /** Model details (`/api/show`) and running models (`/api/ps`), issue 29; absent: nothing to tell. */
  show?: ModelInfoSource['show']
  ps?: ModelInfoSource['ps']
}
