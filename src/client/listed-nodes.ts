import type { BackendRequest, CompleteOptions, CompletionResult } from '../completion/types.js'
import { UnavailableError } from '../completion/errors.js'
import type { EmbeddingRequest, EmbeddingResult, EmbedOptions } from '../embeddings/types.js'
import type { Logger } from '../log.js'
import type { DialTarget } from '../mesh/auto-dial.js'
import type { Tier } from '../membership/types.js'
import type { RouteCandidate } from '../routing/router.js'
import { createPeerHttpBackend, type PeerHttpBackend } from './peer-http-backend.js'

/** A node from the cluster file: `host:port` is its HTTP API. */
export interface ListedNode {
  name: string
  host: string
  port: number
  authToken?: string
  /** What the cluster file says it serves, for routing to it over HTTP when the mesh cannot reach it. */
  models?: string[]
  tier?: Tier
  /** `enabled: false` nodes are shown, never polled, dialed or routed to (default true). */
  enabled?: boolean
}

export interface ListedNodesInit {
  /** Every node of the cluster file; this peer's own entry and disabled ones are never polled. */
  nodes: ListedNode[]
  selfName: string
  intervalMs: number
  timeoutMs: number
  logger: Logger
}

/** The last HTTP check of a listed node, as this peer saw it. */
export interface NodeCheck {
  ok: boolean
  /** When `ok` last changed (or the first answer came). */
  since: number
  latencyMs?: number
  error?: string
  /** The peer id its API reported, once it answered. */
  peerId?: string
}

export interface ListedNodes {
  start: () => void
  stop: () => Promise<void>
  /** Every node of the cluster file, in file order. */
  nodes: () => readonly ListedNode[]
  /** The last check of each polled node by name; absent until its first answer or failure. */
  checks: () => ReadonlyMap<string, NodeCheck>
  /** Mesh addresses learned from the nodes' APIs, for the auto-dialer (explicit discovery). */
  targets: () => DialTarget[]
  /** Listed nodes with models that are not (yet) in the mesh view, as HTTP routing candidates. */
  candidates: (meshNames: ReadonlySet<string>) => RouteCandidate[]
  run: (candidate: RouteCandidate, request: BackendRequest, options: CompleteOptions) => Promise<CompletionResult>
  /** Embeddings through a listed node's HTTP API (it routes them among its own peers). */
  embed: (candidate: RouteCandidate, request: EmbeddingRequest, options: EmbedOptions) => Promise<EmbeddingResult>
}

interface Tracked {
  node: ListedNode
  client: PeerHttpBackend
  check?: NodeCheck
  target?: DialTarget
}

/** The id prefix that keeps HTTP candidates apart from mesh peer ids. */
const HTTP_ID_PREFIX = 'http:'

/**
 * The nodes of the cluster file, polled through their HTTP API (`GET /api/cluster`). One poll
 * serves two purposes:
 * - explicit discovery: the answer names the node's peer id and mesh addresses, so the peer can
 *   join it without mDNS or bootstrap addresses (asked again every interval: a node that restarts
 *   on a new port is found again);
 * - the seed's RemoteLLMClient path: a node no mesh connection reaches (another network, a
 *   firewall) is still a routing candidate over HTTP, health-checked with latency. Once the node
 *   shows up in the mesh view, the mesh path wins and the HTTP candidate steps aside.
 */
export function createListedNodes (init: ListedNodesInit): ListedNodes {
  const tracked: Tracked[] = init.nodes
    .filter(node => node.name !== init.selfName && node.enabled !== false)
    .map(node => ({
      node,
      client: createPeerHttpBackend({ baseUrl: `http://${node.host.includes(':') ? `[${node.host}]` : node.host}:${node.port}`, token: node.authToken, logger: init.logger })
    }))
  let timer: NodeJS.Timeout | undefined

  const record = (t: Tracked, next: Omit<NodeCheck, 'since'>): void => {
    const changed = t.check?.ok !== next.ok
    t.check = { ...next, since: changed || t.check == null ? Date.now() : t.check.since }
  }

  const poll = async (t: Tracked): Promise<void> => {
    const started = performance.now()
    try {
      const cluster = await t.client.cluster(AbortSignal.timeout(init.timeoutMs))
      if (typeof cluster?.self?.peer_id !== 'string' || !Array.isArray(cluster.self.addrs)) throw new Error('not a harombe peer API')
      if (t.check?.ok !== true) init.logger.info({ node: t.node.name }, `listed node ${t.node.name} answers at ${t.node.host}:${t.node.port}`)
      record(t, { ok: true, latencyMs: Math.round((performance.now() - started) * 10) / 10, peerId: cluster.self.peer_id })
      t.target = { peerId: cluster.self.peer_id, addrs: withListedHost(cluster.self.addrs, t.node.host) }
    } catch (err: any) {
      const error = String(err?.message ?? err)
      // Once per change: a node that stays down would otherwise log every interval.
      if (t.check == null || t.check.ok) init.logger.info({ node: t.node.name }, `listed node ${t.node.name} at ${t.node.host}:${t.node.port} does not answer: ${error}`)
      record(t, { ok: false, error, peerId: t.check?.peerId })
    }
  }

  const round = (): void => {
    for (const t of tracked) void poll(t)
  }

  return {
    start () {
      if (timer != null || tracked.length === 0) return
      round()
      timer = setInterval(round, init.intervalMs)
      timer.unref()
    },
    async stop () {
      clearInterval(timer)
      timer = undefined
      await Promise.all(tracked.map(async t => { await t.client.close() }))
    },
    nodes: () => init.nodes,
    checks: () => new Map(tracked.flatMap(t => t.check != null ? [[t.node.name, t.check] as const] : [])),
    targets: () => tracked.flatMap(t => t.target != null ? [t.target] : []),
    candidates (meshNames) {
      return tracked
        .filter(t => (t.node.models ?? []).length > 0 && !meshNames.has(t.node.name))
        .map(t => ({
          id: HTTP_ID_PREFIX + t.node.name,
          name: t.node.name,
          models: t.node.models ?? [],
          tier: t.node.tier ?? 0,
          enabled: true,
          state: t.check?.ok === true ? 'alive' : 'dead',
          load: { active: 0, queued: 0, capacity: t.client.capacity },
          latencyMs: t.check?.latencyMs,
          via: 'http' as const
        }))
    },
    async run (candidate, request, options) {
      const t = tracked.find(x => HTTP_ID_PREFIX + x.node.name === candidate.id)
      if (t == null) throw new UnavailableError(`unknown listed node ${candidate.name}`)
      // Pinned to that node: it must not route the request onward again.
      return await t.client.complete({ ...request, peer: t.node.name }, options)
    },
    async embed (candidate, request, options) {
      const t = tracked.find(x => HTTP_ID_PREFIX + x.node.name === candidate.id)
      if (t == null) throw new UnavailableError(`unknown listed node ${candidate.name}`)
      // The routing hint was for this peer; the node routes among its own peers.
      const { tier: _tier, ...forward } = request
      return await t.client.embed(forward, options)
    }
  }
}

/**
 * A node listening on 0.0.0.0 reports every interface; the host the user listed is the one
 * known to be reachable, so dial that first with the node's own port.
 */
export function withListedHost (addrs: string[], listedHost: string): string[] {
  const host = listedHost === 'localhost' ? '127.0.0.1' : listedHost
  const proto = /^\d{1,3}(\.\d{1,3}){3}$/.test(host) ? 'ip4' : host.includes(':') ? 'ip6' : 'dns4'
  const rewritten = addrs.filter((a): a is string => typeof a === 'string').flatMap(a => {
    const match = /^\/(ip4|ip6|dns4|dns6|dns)\/[^/]+(\/tcp\/\d+.*)$/.exec(a)
    return match != null ? [`/${proto}/${host}${match[2]}`] : []
  })
  return [...new Set([...rewritten, ...addrs])]
}
