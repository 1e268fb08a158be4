// The library surface: embed a peer in a Node program with the same types the CLI uses.
import './polyfill.js'

export { createPeer } from './peer.js'
export type { Peer, PeerInit, PeerInfo } from './peer.js'
export { loadClusterConfig, parseClusterConfig, ConfigError } from './config/index.js'
export type { ClusterConfig, ClusterNode, PeerOptions } from './config/index.js'
export { PROFILES } from './membership/profiles.js'
export type { TimingProfile, ProfileName } from './membership/profiles.js'
export type { Announcement, Member, MemberState, Load, Tier } from './membership/types.js'
export type { ClusterView, ViewChange } from './membership/view.js'
export type { ClusterJson, PeerJson } from './http/cluster-json.js'
export { createLogger, silentLogger } from './log.js'
