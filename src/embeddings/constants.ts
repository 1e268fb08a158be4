// Embedding bounds and protocol defaults, one per line, each with the reason for its value.

/** One request and one answer per stream: vectors are answered whole, nothing streams. */
export const EMBED_PROTOCOL = '/harombe/embed/1.0.0'

/** OpenAI's own limit on inputs per /v1/embeddings request; Ollama has none, so one bound for both. */
export const MAX_EMBEDDING_INPUTS = 2_048

/** OpenAI's per-input limit (8,192 tokens for its embedding models); a token array longer is refused at the door. */
export const MAX_TOKENS_PER_INPUT = 8_192

/**
 * A text input is bounded in characters before any tokenizer sees it: ~4 characters per token on
 * English text, and twice that for slack (code, numbers) — past it no model's 8k context holds it.
 */
export const MAX_CHARS_PER_INPUT = MAX_TOKENS_PER_INPUT * 8

/** Largest vector a peer accepts on the wire: the widest common embedding models have 4,096–8,192 dimensions. */
export const MAX_DIMENSIONS = 16_384

/** The request frame: inputs are text (up to the HTTP body limit, 4 MiB), JSON escaping can grow them. */
export const MAX_EMBED_REQUEST_BYTES = 8 * 1024 * 1024

/** The vectors frame: 2,048 inputs × 4,096 dims × 4 bytes = 32 MiB; past that a request is split by the client anyway. */
export const MAX_EMBED_VECTOR_BYTES = 32 * 1024 * 1024

/** The JSON header frame of an answer (model, counts, who served it, or an error). */
export const MAX_EMBED_HEADER_BYTES = 16 * 1024

/** Embedding streams per connection: a handful at once is plenty; each holds a request's vectors. */
export const MAX_EMBED_STREAMS = 32

/**
 * Idle embedding streams a caller keeps per peer: enough for a few concurrent clients' batches to
 * reuse streams; they count against the serving peer's MAX_EMBED_STREAMS for this caller.
 */
export const MAX_IDLE_EMBED_STREAMS_PER_PEER = 16

/** The caller writes its request right after opening the stream (as REQUEST_READ_TIMEOUT_MS for completions). */
export const EMBED_REQUEST_READ_TIMEOUT_MS = 10_000

/** Bound on one embedding attempt on one peer (a big batch on a CPU takes a while, not minutes). */
export const EMBED_ATTEMPT_TIMEOUT_MS = 120_000
