// The peer's public shape: what createPeer (peer.ts, the composition root) takes and gives.
import type { MeshNode } from './mesh/node.js'
import type { ConnectionTrimmer } from './mesh/connection-trimmer.js'
import type { Membership } from './membership/service.js'
import type { ProfileName, TimingProfile } from './membership/profiles.js'
import type { Tier } from './membership/types.js'
import type { ViewChange } from './membership/view.js'
import type { ClusterJson } from './api/cluster-json.js'
import type { Logger } from './log.js'
import type { Backend } from './completion/types.js'
import type { CompletionService } from './completion/service.js'
import type { RoutingPolicy } from './routing/router.js'
import type { AffinityConfig, RoutePolicyName } from './routing/affinity-config.js'
import type { ListedNode } from './client/listed-nodes.js'
import type { LlmClient } from './client/types.js'
import type { ModelSharing } from './sharing/service.js'
import type { SharingOptions } from './sharing/options.js'

export interface PeerInit {
  /** Directory for the identity key (stable peer id across restarts). */
  dataDir: string
  name?: string
  tier?: Tier
  /**
   * Models to serve; each must be one the backend lists (else `start` throws ModelNotServedError).
   * Empty or absent: whatever the backend lists. Without a backend the peer announces none.
   */
  models?: string[]
  enabled?: boolean
  /** This peer's backend (embedded, ollama, openai); absent = a routing-only peer. */
  backend?: Backend
  /** Requests waiting beyond the backend's capacity before the peer answers busy. */
  maxQueue?: number
  routing?: RoutingPolicy
  /**
   * How this peer picks among equal candidates (issue 23): `affinity` (default) keeps prompts where
   * they are cached; `in-flight` counts its own requests in flight and spreads ties; `announced`
   * routes on announced load alone with ties by name, as before. `--route-policy`.
   */
  routePolicy?: RoutePolicyName
  /** Cache-aware routing thresholds (affinity-config.ts); absent fields keep their defaults. */
  affinity?: Partial<AffinityConfig>
  /** Attempts after the first when a peer fails before its first token (DESIGN: 2). */
  maxRetries?: number
  /** Bound on each attempt until its first token. */
  firstTokenTimeoutMs?: number
  /** After the first token, the longest pause between tokens before the answer is handed over (default firstTokenTimeoutMs). */
  interTokenTimeoutMs?: number
  /**
   * Hand an answer to another peer serving the same model when its peer dies mid-answer
   * (default true; `--no-continue`), at most `maxHandovers` times per request (default 2).
   */
  continuation?: boolean
  maxHandovers?: number
  /** Graceful stop: how long in-flight completions may run on before they are aborted (default DEFAULT_DRAIN_TIMEOUT_MS). */
  drainTimeoutMs?: number
  /**
   * Tokens one request may generate on this peer's backend, whoever sent it (default
   * DEFAULT_MAX_TOKENS_CAP); more is answered up to the cap with finish_reason `length`. 0 = no
   * cap beyond the backend's own (the embedded model's context).
   */
  maxTokensCap?: number
  /**
   * Wall-clock bound on each completion through this peer, and on each run of its backend (default
   * DEFAULT_REQUEST_TIMEOUT_MS); past it the answer ends with a timeout error. 0 = none.
   */
  requestTimeoutMs?: number
  apiHost?: string
  /** 0 = any free port. */
  apiPort?: number
  token?: string
  listen?: string[]
  bootstrap?: string[]
  mdns?: boolean
  meshKey?: Uint8Array
  /**
   * Every node of the cluster YAML (this peer's own entry and disabled ones included: they are
   * shown in the views). The others are reached through their HTTP API (explicit discovery).
   */
  listedNodes?: ListedNode[]
  profile?: ProfileName | TimingProfile
  /** Fail `start` when no bootstrap peer answers within the profile's join timeout. */
  requireBootstrap?: boolean
  /** Peers kept connected at once (default DEFAULT_MAX_CONNECTED_PEERS); auto-dial stops at half of it, others are dialed on demand. */
  maxConnections?: number
  /** Connection trimming timing (defaults CONNECTION_IDLE_MS, CONNECTION_TRIM_INTERVAL_MS); tests shorten them. */
  connectionTrim?: { idleMs?: number, intervalMs?: number }
  /** Share model files with the mesh and pull them from it (issue 16); absent = off. */
  sharing?: SharingOptions
  logger?: Logger
}

export interface PeerInfo {
  name: string
  peerId: string
  apiUrl: string
  meshAddrs: string[]
}

export interface Peer {
  start: (signal?: AbortSignal) => Promise<PeerInfo>
  /** Graceful: announce leave, then stop. Idempotent. */
  stop: () => Promise<void>
  /** Abrupt: close every connection and stop without saying goodbye (tests, crash simulation). */
  crash: () => Promise<void>
  info: () => PeerInfo
  membership: () => Membership
  mesh: () => MeshNode
  /** Keeps the mesh connections bounded; its `trim` event follows every round. */
  connectionTrimmer: () => ConnectionTrimmer
  onChange: (listener: (change: ViewChange) => void) => () => void
  cluster: () => ClusterJson
  /** Route and run a completion from this peer, as its HTTP API does. */
  completions: () => CompletionService
  /** A new LlmClient on this peer: the same interface as `createRemoteClient`, without HTTP. Closing it leaves the peer running. */
  client: () => LlmClient
  /** Model file sharing, when `sharing` was given. */
  sharing: () => ModelSharing | undefined
}

