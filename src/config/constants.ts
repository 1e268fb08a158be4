// Defaults for the cluster file and the peer's start options, each with the
// reason for its value. The CLI help and `init` template read these too, so a
// default is stated once.

// The seed's CLI talks to a coordinator on this machine unless told otherwise
export const DEFAULT_COORDINATOR_HOST = 'localhost'

// mDNS finds LAN peers with no configuration; `explicit` is opt-in
export const DEFAULT_DISCOVERY_METHOD = 'mdns'

// Serving locally avoids a network hop when this peer can answer
export const DEFAULT_PREFER_LOCAL = true

// The seed's default: fall back to lower tiers rather than fail the request
export const DEFAULT_FALLBACK_STRATEGY = 'graceful'

// Spread requests across a tier instead of piling onto the first peer
export const DEFAULT_LOAD_BALANCE = true

// A listed node takes part unless the user switches it off
export const DEFAULT_NODE_ENABLED = true

// Tier 0 is the "fast/small" tier: the safe guess for an unnamed machine
export const DEFAULT_TIER = 0

// Works offline on a fresh install with the bundled tiny model
export const DEFAULT_BACKEND = 'embedded'

// The HTTP API is unauthenticated unless a token is set, so loopback only by default
export const DEFAULT_API_HOST = '127.0.0.1'

/**
 * A stopping peer lets in-flight completions finish for this long: most chat answers on a local
 * backend take a few seconds, and it stays well under the grace periods of systemd (90 s) and
 * Kubernetes (30 s) before their SIGKILL.
 */
export const DEFAULT_DRAIN_TIMEOUT_MS = 10_000

// The seed's API port, so existing clients keep working
export const DEFAULT_API_PORT = 8000

// All interfaces, fixed port: LAN peers can dial us and bootstrap lists stay valid across restarts
export const DEFAULT_LISTEN: readonly string[] = ['/ip4/0.0.0.0/tcp/4700']

// Timing profile: `lan` for real deployments; `test` is the fast profile for tests
export const DEFAULT_PROFILE = 'lan'

export const DEFAULT_LOG_LEVEL = 'info'

// A cluster file of a thousand nodes is ~150 KB; 1 MiB leaves room for comments and bounds the
// parse time of a runaway file (a deeply nested one takes yaml ~1 s per few MB)
export const MAX_CONFIG_CHARS = 1024 * 1024

/**
 * Tokens one request may generate on this peer's backend, whatever it asks for: above any answer a
 * chat client waits for (OpenAI's largest models stop at 16–32k), low enough that a client asking
 * for 10^9 on a model that never stops by itself (the bundled tiny one) is done in seconds to
 * minutes, not never. 0 turns the cap off; the backend's own limit (context) still applies.
 */
export const DEFAULT_MAX_TOKENS_CAP = 8_192

/**
 * Wall-clock bound on one completion request: a long answer from a slow CPU model (8k tokens at
 * ~15 tokens/s) fits, while a client that hangs on, or a backend that stalls, does not hold a
 * sequence for ever. 0 turns it off.
 */
export const DEFAULT_REQUEST_TIMEOUT_MS = 600_000
