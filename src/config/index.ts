export * from './constants.js'
export { ConfigError, formatProblem } from './errors.js'
export type { ConfigErrorOptions, ConfigProblem } from './errors.js'
export { formatPath, loadClusterConfig, parseClusterConfig, parsePeerOptions } from './load.js'
export type { LoadOptions, ParsedClusterConfig } from './load.js'
export {
  BACKENDS,
  ClusterConfigSchema,
  ClusterFileSchema,
  ClusterNodeSchema,
  ClusterNodesSchema,
  CoordinatorSchema,
  DiscoverySchema,
  DISCOVERY_METHODS,
  FALLBACK_STRATEGIES,
  LOG_LEVELS,
  ModelSchema,
  MultiaddrSchema,
  nodeListen,
  nodeModels,
  PeerOptionsSchema,
  PortSchema,
  PROFILE_NAMES,
  RoutingSchema,
  TIERS,
  TierSchema
} from './schema.js'
export type { ClusterConfig, ClusterFile, ClusterNode, PeerOptions, PeerOptionsInput, Tier } from './schema.js'
