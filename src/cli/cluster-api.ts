// `status --config cluster.yaml` (and models, test, complete, pull): the seed's
// `cluster.coordinator.host` is the default host for CLI commands. The peer's API port and token
// come from the node that lives on that host, when the file lists one.
import { DEFAULT_API_PORT, loadClusterConfig, type ClusterConfig } from '../config/index.js'

export interface ClusterApi {
  api: string
  /** The coordinator node's auth_token, sent when neither --token nor HAROMBE_TOKEN is set. */
  token?: string
}

/** Pure: the API URL (and token) the file points CLI commands at. */
export function clusterApi (cluster: Pick<ClusterConfig, 'coordinator' | 'nodes'>): ClusterApi {
  const host = cluster.coordinator.host
  const node = cluster.nodes.find(n => n.host === host && n.enabled)
  // An IPv6 literal needs brackets in a URL.
  const urlHost = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host
  return {
    api: `http://${urlHost}:${node?.port ?? DEFAULT_API_PORT}`,
    ...(node?.auth_token != null ? { token: node.auth_token } : {})
  }
}

export interface ApiFlags {
  api: string
  token?: string
  config?: string
}

/**
 * The flags a command runs with: with --config and no --api given on the command line, the
 * coordinator's API (and its token when none is given). `apiGiven`: --api was typed, not defaulted.
 */
export async function resolveApiFlags<T extends ApiFlags> (flags: T, apiGiven: boolean, env: NodeJS.ProcessEnv = process.env): Promise<T> {
  if (flags.config == null || apiGiven) return flags
  const { config } = await loadClusterConfig(flags.config)
  const { api, token } = clusterApi(config)
  const hasToken = flags.token != null || (env.HAROMBE_TOKEN ?? '') !== ''
  return { ...flags, api, ...(token != null && !hasToken ? { token } : {}) }
}
