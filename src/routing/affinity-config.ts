// Every threshold of cache-aware routing (issue 23) in one place, each with the reason for its
// default: the shape of SGLang's CacheAwareConfig (sgl-router/src/policies/cache_aware.rs), sized
// for peers that run one to a few requests at a time rather than a GPU batch of hundreds.

/** Which routing the entry peer does (`--route-policy`); the benchmark compares them in one run. */
export type RoutePolicyName = 'announced' | 'in-flight' | 'affinity'

export const ROUTE_POLICIES: readonly RoutePolicyName[] = ['announced', 'in-flight', 'affinity']

/** Affinity: the prompt cache is what decides whether a turn costs milliseconds or seconds. */
export const DEFAULT_ROUTE_POLICY: RoutePolicyName = 'affinity'

export interface AffinityConfig {
  /**
   * Characters per block of the rendered prompt: the index keys a chained hash at each block's end,
   * so a match is a whole number of blocks. Smaller blocks match more exactly and cost more entries.
   */
  blockChars: number
  /** Blocks kept across all models (least recently sent dropped first): the memory bound. */
  maxBlocks: number
  /** Explicit affinity keys kept (least recently used dropped first). */
  maxKeys: number
  /** An entry older than this is forgotten: the backend has likely dropped that cache by then. */
  ttlMs: number
  /**
   * The warm (or pinned) peer loses to the least loaded one when both thresholds are passed:
   * its load minus the least load, in requests per slot, is above `balanceAbsThreshold` …
   */
  balanceAbsThreshold: number
  /** … and its load is above `balanceRelThreshold` × the least load (SGLang's pair of thresholds). */
  balanceRelThreshold: number
  /**
   * Rendezvous with bounded load: a peer whose load per slot is above (1 + ε) × the average is
   * skipped for the next one in the hash order (Mirrokni, Thorup, Zadimoghaddam 2018).
   */
  boundedLoadEpsilon: number
}

export const DEFAULT_AFFINITY_CONFIG: Readonly<AffinityConfig> = Object.freeze({
  // ~64 tokens at ~4 characters a token: a 5,000-character prompt is 19 entries, and a match
  // misses at most the last 255 characters, tokens a backend evaluates in tens of milliseconds.
  // Shorter turns still stay put: with no whole block warm, the rendezvous on the system prompt
  // (or first message) picks the same peer again.
  blockChars: 256,
  // 100,000 blocks are 25.6 M characters (~6 M tokens) of prompts, more than the KV caches of the
  // peers behind one entry peer hold: 10,000 prompts of 300–4,000 characters fit, in ~10 MB of
  // heap (bench/results/route-decision.json).
  maxBlocks: 100_000,
  // One key per live conversation; 10,000 conversations within the expiry is a busy mesh.
  maxKeys: 10_000,
  // Ollama keeps a model (and its slot's cache) 5 minutes by default (keep_alive); llama-server
  // keeps a slot's prompt until another request takes the slot, which under load is sooner.
  ttlMs: 5 * 60_000,
  // Waiting out one more request is about what a cold prompt costs (issue 23: a 1,233-token prompt
  // 1.4 s cold; a queued turn 3.1–3.5 s): more than one request per slot ahead, and load wins.
  balanceAbsThreshold: 1,
  // When every peer is busy, half again as much waiting as the least loaded peer is too much.
  balanceRelThreshold: 1.5,
  // The paper's example value: at most a quarter above the average, and an idle mesh spreads
  // concurrent first requests one per peer (the average starts at 0, so a busy peer is above it).
  boundedLoadEpsilon: 0.25
})
