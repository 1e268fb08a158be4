// Model sharing defaults, one per line, each with the reason for its value.

/**
 * Catalogue, chunk hash lists and chunks of shared model files. Every request names a file by its
 * sha256, never by a path: a holder only ever serves what its own catalogue lists.
 */
export const MODELS_PROTOCOL = '/harombe/models/1.0.0'

/**
 * Chunk size: the unit of scheduling, verification and resume. 8 MiB costs ~40 ms at 200 MB/s, so
 * a new stream per chunk (~2 ms) is noise, a lost chunk is cheap to fetch again, and a 40 GB file
 * is 5,000 chunks (a 320 KB hash list).
 */
export const CHUNK_SIZE = 8 * 1024 * 1024

/** Bytes per data frame inside a chunk: small enough to interleave with other streams on a connection. */
export const DATA_FRAME_BYTES = 256 * 1024

/** A hash list of 2 MiB of hex covers ~30,000 chunks (240 GB): any GGUF there is; above it is hostile. */
export const MAX_CONTROL_FRAME_BYTES = 2 * 1024 * 1024

/** Bound on one control exchange (catalogue, hash list): they are small; a peer silent this long is gone. */
export const CONTROL_TIMEOUT_MS = 10_000

/**
 * Bound on one chunk: 8 MiB in 60 s is 140 KB/s, slower than any LAN. A source this slow (or dead,
 * LIBP2P-NOTES 6) loses the chunk to another source long before that, through the slow-source rule.
 */
export const CHUNK_TIMEOUT_MS = 60_000

/** Chunks in flight from one source: two keeps its pipe full while the next request opens. */
export const MAX_IN_FLIGHT_PER_SOURCE = 4

/** Chunks in flight over all sources: bounds the puller's memory to 16 × 8 MiB. */
export const MAX_IN_FLIGHT_TOTAL = 16

/**
 * A chunk in flight this many times longer than the median chunk time is re-requested from an idle
 * source (first answer wins): a slow source loses its chunks without being declared dead.
 */
export const SLOW_CHUNK_FACTOR = 4

/** Before any chunk has finished there is no median: a chunk older than this counts as slow. */
export const SLOW_CHUNK_FLOOR_MS = 5_000

/** Failures (bad hash, error, stream cut) after which a source gets no more chunks in this pull. */
export const MAX_SOURCE_FAILURES = 3

/** Concurrent chunk uploads this peer serves: more would starve inference traffic on a busy link. */
export const DEFAULT_MAX_UPLOADS = 4

/** How often shared directories are rescanned for new, changed or removed files. */
export const RESCAN_INTERVAL_MS = 30_000

/** Entries a catalogue answer carries; a directory with more GGUF files than this is not a model store. */
export const MAX_CATALOGUE_ENTRIES = 1_024

/** Directory depth searched below each shared directory (models sit in one or two levels of folders). */
export const MAX_SCAN_DEPTH = 3

/** Catalogues asked at once when looking for holders: bounded like every fan-out. */
export const CATALOGUE_FANOUT = 8
