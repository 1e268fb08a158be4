// Completion protocol defaults, one per line, each with the reason for its value.

/**
 * One completion at a time per stream: a request frame in, batched deltas out, then exactly one
 * trailer; after the trailer the caller may send its next request frame on the same stream.
 */
export const COMPLETE_PROTOCOL = '/harombe/complete/1.0.0'

/**
 * A request carries the whole chat history and tool schemas: a 128k-token context is ~0.5 MB of
 * text, and JSON escaping plus long tool definitions can double it; 4 MiB leaves room without
 * letting one stream make a peer buffer an unbounded frame.
 */
export const MAX_REQUEST_FRAME_BYTES = 4 * 1024 * 1024

/**
 * Deltas are small (see DELTA_BATCH_MAX_CHARS); the largest response frame is the `done` trailer,
 * which holds the whole answer. 1 MiB is ~250k tokens of text, above any max_tokens a peer runs.
 */
export const MAX_RESPONSE_FRAME_BYTES = 1024 * 1024

/**
 * One frame per token is slow (~45k frames/s, LIBP2P-NOTES 8). Deltas are collected for this long
 * before a frame is written: ≤ 200 frames/s per stream, and 5 ms is invisible to a human reader.
 */
export const DELTA_BATCH_WINDOW_MS = 5

/** A batch this long is written at once instead of waiting for the window, so delta frames stay small. */
export const DELTA_BATCH_MAX_CHARS = 1024

/**
 * The caller writes its request right after opening the stream; a 4 MiB prompt takes ~3 s on a
 * 10 Mbit/s link. A stream that sends nothing for 10 s is dead or hostile and holds a stream slot.
 */
export const REQUEST_READ_TIMEOUT_MS = 10_000

/**
 * How long the serving peer keeps a stream open between requests. Long enough that a caller
 * under steady load never pays for a new stream (~2–6 ms each, LIBP2P-NOTES); short enough
 * that streams of a caller that went quiet give their slot back within a minute.
 */
export const STREAM_IDLE_TIMEOUT_MS = 30_000

/**
 * How long the caller keeps an idle stream in its pool. Below STREAM_IDLE_TIMEOUT_MS, so the
 * caller normally closes first and rarely picks a stream the serving peer is closing right then.
 */
export const POOL_IDLE_TIMEOUT_MS = 20_000

/**
 * Idle streams the caller keeps per peer. Opening a stream costs ~2 ms and a peer-store write under
 * a per-peer lock on the serving side, which dominated routed throughput at 64 clients with a pool
 * of 8 (BENCHMARKS.md). Idle streams count against the serving peer's per-connection limit
 * (capacity + queue + headroom), so the pool can never hold more than that peer accepts anyway.
 */
export const MAX_IDLE_STREAMS_PER_PEER = 64

/**
 * Outbound completion streams per connection. The default (64) would cap how many requests a
 * router forwards to one large peer; that peer's own inbound limit and queue decide the real bound.
 */
export const DEFAULT_MAX_OUTBOUND_STREAMS = 256

/**
 * Response bytes queued for a caller that stopped reading. Past this the serving peer stops
 * generating instead of buffering an answer nobody consumes (the caller still holds the stream open).
 */
export const MAX_BUFFERED_RESPONSE_BYTES = 8 * 1024 * 1024

/** Request ids show up in both peers' logs; longer ones are garbage, not correlation ids. */
export const MAX_REQUEST_ID_LENGTH = 128

/**
 * Affinity keys and pass-through cache keys (`affinity_key`, `prompt_cache_key`) in a request:
 * conversation or user ids, not documents. 1,024 characters holds any id a client sends (OpenAI's
 * `user` is documented as an id), and bounds what one request makes the index and the wire carry.
 */
export const MAX_KEY_CHARS = 1_024

/** Ollama's `keep_alive` as a string is a duration ("5m", "1h30m"); 64 characters is plenty. */
export const MAX_KEEP_ALIVE_CHARS = 64
