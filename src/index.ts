// The library surface: embed a peer in a Node program, or talk to one, with the same types the CLI
// uses. Agent code takes an LlmClient: `peer.client()` in process, `createRemoteClient` over HTTP.
import './polyfill.js'

export { createPeer } from './peer.js'
export type { Peer, PeerInit, PeerInfo } from './peer.js'
export { createRemoteClient } from './client/remote-client.js'
export type { RemoteClientInit } from './client/remote-client.js'
export type { LlmClient, CallOptions, CompletionAnswer, StreamEvent } from './client/types.js'
export {
  CompletionError,
  BadRequestError,
  UnauthorizedError,
  UnknownModelError,
  BusyError,
  NoPeerError,
  UnavailableError,
  TimeoutError,
  AbortedError,
  InternalError
} from './completion/errors.js'
export type { CompletionErrorCode } from './completion/errors.js'
export type {
  Backend,
  ChatMessage,
  CompletionDelta,
  CompletionRequest,
  CompletionResult,
  FinishReason,
  ToolCall,
  ToolDefinition,
  Usage
} from './completion/types.js'
export type { ModelInfo, NodeRef } from './completion/service.js'
export { createBackend, BackendConfigError } from './backends/index.js'
export type { BackendKind, BackendOptions } from './backends/index.js'
export { loadClusterConfig, parseClusterConfig, ConfigError } from './config/index.js'
export type { ClusterConfig, ClusterNode, PeerOptions } from './config/index.js'
export { PROFILES } from './membership/profiles.js'
export type { TimingProfile, ProfileName } from './membership/profiles.js'
export type { Announcement, Member, MemberState, Load, Tier } from './membership/types.js'
export type { ClusterView, ViewChange } from './membership/view.js'
export type { ClusterJson, PeerJson } from './api/cluster-json.js'
export { createLogger, silentLogger } from './log.js'
export { DEFAULT_AFFINITY_CONFIG, DEFAULT_ROUTE_POLICY, ROUTE_POLICIES } from './routing/affinity-config.js'
export type { AffinityConfig, RoutePolicyName } from './routing/affinity-config.js'
