import type { BackendRequest, CompleteOptions, CompletionResult } from '../completion/types.js'
import { UnavailableError } from '../completion/errors.js'
import type { Logger } from '../log.js'
import type { ListedNode } from '../mesh/explicit-discovery.js'
import type { Tier } from '../membership/types.js'
import type { RouteCandidate } from '../routing/router.js'
import { createRemoteClient, type RemoteClient } from './remote-client.js'

export interface HttpNode extends ListedNode {
  models: string[]
  tier: Tier
}

export interface ListedNodesInit {
  nodes: HttpNode[]
  intervalMs: number
  timeoutMs: number
  logger: Logger
}

export interface ListedNodes {
  start: () => void
  stop: () => Promise<void>
  /** Listed nodes that are not (yet) in the mesh view, as HTTP routing candidates. */
  candidates: (meshNames: ReadonlySet<string>) => RouteCandidate[]
  run: (candidate: RouteCandidate, request: BackendRequest, options: CompleteOptions) => Promise<CompletionResult>
}

interface Tracked {
  node: HttpNode
  client: RemoteClient
  healthy: boolean
  latencyMs?: number
}

/** The id prefix that keeps HTTP candidates apart from mesh peer ids. */
const HTTP_ID_PREFIX = 'http:'

/**
 * The seed's RemoteLLMClient path: a node from the cluster file that no mesh connection reaches
 * (another network, a firewall) is still a candidate over its HTTP API, health-checked with latency.
 * Once the node shows up in the mesh view, the mesh path wins and the HTTP candidate steps aside.
 */
export function createListedNodes (init: ListedNodesInit): ListedNodes {
  const tracked: Tracked[] = init.nodes.map(node => ({
    node,
    client: createRemoteClient({ baseUrl: `http://${node.host.includes(':') ? `[${node.host}]` : node.host}:${node.port}`, token: node.authToken, logger: init.logger }),
    healthy: false
  }))
  let timer: NodeJS.Timeout | undefined

  const check = (): void => {
    for (const t of tracked) {
      t.client.health(AbortSignal.timeout(init.timeoutMs)).then(health => {
        if (health.ok !== t.healthy) init.logger.info({ node: t.node.name }, `listed node ${t.node.name} is ${health.ok ? 'reachable' : 'unreachable'} over HTTP`)
        t.healthy = health.ok
        t.latencyMs = health.ok ? health.latencyMs : undefined
      }, () => { t.healthy = false })
    }
  }

  return {
    start () {
      if (timer != null || tracked.length === 0) return
      check()
      timer = setInterval(check, init.intervalMs)
      timer.unref()
    },
    async stop () {
      clearInterval(timer)
      timer = undefined
      await Promise.all(tracked.map(async t => { await t.client.close() }))
    },
    candidates (meshNames) {
      return tracked
        .filter(t => !meshNames.has(t.node.name))
        .map(t => ({
          id: HTTP_ID_PREFIX + t.node.name,
          name: t.node.name,
          models: t.node.models,
          tier: t.node.tier,
          enabled: true,
          state: t.healthy ? 'alive' : 'dead',
          load: { active: 0, queued: 0, capacity: t.client.capacity },
          latencyMs: t.latencyMs,
          via: 'http' as const
        }))
    },
    async run (candidate, request, options) {
      const t = tracked.find(x => HTTP_ID_PREFIX + x.node.name === candidate.id)
      if (t == null) throw new UnavailableError(`unknown listed node ${candidate.name}`)
      // Pinned to that node: it must not route the request onward again.
      return await t.client.complete({ ...request, peer: t.node.name }, options)
    }
  }
}
