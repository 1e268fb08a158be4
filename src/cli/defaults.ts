// CLI defaults shared by the bin (help text) and the commands, in a module light enough for the bin to load eagerly.

/** DESIGN: commands talk to the peer on this machine unless told otherwise. */
export const DEFAULT_API = 'http://127.0.0.1:8000'

/** Refresh period of `status --watch`: "last seen" ticks visibly without loading the peer. */
export const DEFAULT_WATCH_INTERVAL_MS = 2_000
