import type { Logger } from '../log.js'
import type { DialTarget } from './auto-dial.js'

export interface ListedNode {
  name: string
  host: string
  port: number
  authToken?: string
  /** What the cluster file says it serves, for routing to it over HTTP when the mesh cannot reach it. */
  models?: string[]
  tier?: 0 | 1 | 2
}

export interface ExplicitDiscoveryInit {
  nodes: ListedNode[]
  intervalMs: number
  timeoutMs: number
  logger: Logger
}

export interface ExplicitDiscovery {
  start: () => void
  stop: () => void
  /** Mesh addresses learned so far from the listed nodes' HTTP APIs. */
  targets: () => DialTarget[]
}

/**
 * Explicit discovery for nodes listed in the cluster YAML: a listed node's `host:port` is its
 * HTTP API, which tells its peer id and mesh addresses (`GET /api/cluster` → `self`).
 * Asked again every interval, so a node that restarts on a new port is found again.
 */
export function createExplicitDiscovery (init: ExplicitDiscoveryInit): ExplicitDiscovery {
  const learned = new Map<string, DialTarget>()
  let timer: NodeJS.Timeout | undefined
  let controller: AbortController | undefined

  const ask = async (node: ListedNode, signal: AbortSignal): Promise<void> => {
    const url = `http://${node.host.includes(':') ? `[${node.host}]` : node.host}:${node.port}/api/cluster`
    try {
      const res = await fetch(url, {
        signal: AbortSignal.any([signal, AbortSignal.timeout(init.timeoutMs)]),
        headers: node.authToken != null ? { authorization: `Bearer ${node.authToken}` } : {}
      })
      if (!res.ok) throw new Error(`HTTP ${res.status}`)
      const body = await res.json() as { self?: { peer_id?: unknown, addrs?: unknown } }
      const peerId = body.self?.peer_id
      const addrs = body.self?.addrs
      if (typeof peerId !== 'string' || !Array.isArray(addrs)) throw new Error('not a harombe peer API')
      learned.set(node.name, { peerId, addrs: withListedHost(addrs.filter((a): a is string => typeof a === 'string'), node.host) })
    } catch (err: any) {
      if (!signal.aborted) init.logger.debug({ node: node.name }, `cannot learn mesh address from ${url}: ${err?.message ?? err}`)
    }
  }

  const round = (): void => {
    const signal = controller?.signal
    if (signal == null) return
    for (const node of init.nodes) void ask(node, signal)
  }

  return {
    start () {
      if (controller != null || init.nodes.length === 0) return
      controller = new AbortController()
      round()
      timer = setInterval(round, init.intervalMs)
      timer.unref()
    },
    stop () {
      clearInterval(timer)
      controller?.abort()
      controller = undefined
    },
    targets: () => [...learned.values()]
  }
}

/**
 * A node listening on 0.0.0.0 reports every interface; the host the user listed is the one
 * known to be reachable, so dial that first with the node's own port.
 */
function withListedHost (addrs: string[], listedHost: string): string[] {
  const host = listedHost === 'localhost' ? '127.0.0.1' : listedHost
  const proto = /^\d{1,3}(\.\d{1,3}){3}$/.test(host) ? 'ip4' : host.includes(':') ? 'ip6' : 'dns4'
  const rewritten = addrs.flatMap(a => {
    const match = /^\/(ip4|ip6|dns4|dns6|dns)\/[^/]+(\/tcp\/\d+.*)$/.exec(a)
    return match != null ? [`/${proto}/${host}${match[2]}`] : []
  })
  return [...new Set([...rewritten, ...addrs])]
}
