import type { Tier } from '../membership/types.js'

// The one internal embedding type. OpenAI's /v1/embeddings and Ollama's /api/embed and
// /api/embeddings are adapters at the HTTP edge; backends and the mesh protocol speak only this.
/** Texts, or token arrays (OpenAI accepts both; a backend that cannot take tokens refuses them). */
export type EmbeddingInput = string[] | number[][]

export interface EmbeddingRequest {
  /** Exact model name; embeddings are never routed to `auto` (a vector is only comparable within one model). */
  model: string
  input: EmbeddingInput
  /** Ollama's `truncate` (default true there): cut an input over the context instead of failing. */
  truncate?: boolean
  /** OpenAI's `dimensions`: passed to backends that support it (OpenAI's own API); others refuse it. */
  dimensions?: number
  /** Ollama's `keep_alive`, passed through unchanged. */
  keep_alive?: string | number
  /** Routing hint (`x-harombe-tier`), read by the entry peer only; the serving peer's decoder drops it. */
  tier?: Tier
}

export interface EmbeddingResult {
  model: string
  /** One vector per input, in input order, all of one length. */
  embeddings: Float32Array[]
  /** Tokens the backend evaluated over all inputs (OpenAI `usage.prompt_tokens`, Ollama `prompt_eval_count`). */
  prompt_tokens: number
}

export interface EmbedOptions {
  /** Aborted when the client leaves or a timeout fires. */
  signal: AbortSignal
}

/** What a backend offers for embeddings; absent on a backend that cannot embed at all. */
export type Embedder = (request: EmbeddingRequest, options: EmbedOptions) => Promise<EmbeddingResult>
