// Defaults of the LlmClient; each applies only when the caller passes no signal of its own.

/** A completion without a signal: a cold model load plus a long answer on a CPU fit in 5 min; longer work should pass its own signal. */
export const DEFAULT_COMPLETION_TIMEOUT_MS = 5 * 60_000

/** models() and cluster() without a signal: a peer answers those from memory in milliseconds. */
export const DEFAULT_QUERY_TIMEOUT_MS = 10_000
