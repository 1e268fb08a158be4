// Starts N real peers in this process, each with its own backend on its own mock upstream
// (OpenAI or Ollama flavour), on 127.0.0.1 with mDNS off and the fast `test` profile, and tears
// every peer, mock and data directory down again. Peers 2..N bootstrap from the first one.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createPeer, type Peer, type PeerInit } from '../../src/peer.js'
import { createOpenAIBackend } from '../../src/backends/openai.js'
import { createOllamaBackend } from '../../src/backends/ollama.js'
import type { Backend } from '../../src/completion/types.js'
import type { Tier } from '../../src/membership/types.js'
import { startMockOpenAIServer } from './mock-openai-server.js'
import { startMockOllamaServer } from './mock-ollama-server.js'
import type { MockBehavior, MockServer } from './mock-llm.js'
import { waitForView } from './wait.js'

/** The model every mock serves unless a spec says otherwise. */
export const MODEL = 'llama'

export interface NodeSpec {
  name: string
  tier?: Tier
  /** Which upstream the peer's backend talks to; `none` = a routing-only peer. Default `openai`. */
  backend?: 'openai' | 'ollama' | 'none'
  /** Mock knobs; `models` defaults to [MODEL] and `tokens` to tokensOf(name). */
  behavior?: Partial<MockBehavior>
  /** The backend's capacity (completions at once). */
  capacity?: number
  /** Everything else createPeer takes (routing, maxQueue, maxRetries, firstTokenTimeoutMs, token…). */
  peer?: Omit<PeerInit, 'dataDir' | 'name' | 'tier' | 'backend'>
}

export interface ClusterNode {
  name: string
  peer: Peer
  /** The peer's upstream; undefined for a routing-only peer. */
  mock?: MockServer
  /** Base URL of the peer's HTTP API. */
  api: string
  id: string
}

export interface Cluster {
  /** Starts the peers in order (the first is everyone's bootstrap) and waits until each sees all alive. */
  start: (specs: NodeSpec[], convergeMs?: number) => Promise<ClusterNode[]>
  /** A started node by name. */
  node: (name: string) => ClusterNode
  /** Crashes every peer, closes every mock and removes every data directory. Safe to call twice. */
  stop: () => Promise<void>
}

/** The answer a node's mock gives by default: it names the node, so a test can tell who served. */
export function tokensOf (name: string): string[] {
  return [`[${name}]`, ' hello', ' from', ` ${name}`]
}

export function textOf (name: string): string {
  return tokensOf(name).join('')
}

export function createCluster (): Cluster {
  const nodes: ClusterNode[] = []
  const peers: Peer[] = []
  const mocks: MockServer[] = []
  const dirs: string[] = []

  const startOne = async (spec: NodeSpec, bootstrap: string[]): Promise<ClusterNode> => {
    const flavor = spec.backend ?? 'openai'
    let mock: MockServer | undefined
    let backend: Backend | undefined
    const behavior: Partial<MockBehavior> = { models: [MODEL], tokens: tokensOf(spec.name), ...spec.behavior }
    if (flavor === 'openai') {
      mock = await startMockOpenAIServer({ behavior })
      mocks.push(mock)
      backend = createOpenAIBackend({ baseUrl: mock.url, ...(spec.capacity != null ? { capacity: spec.capacity } : {}) })
    } else if (flavor === 'ollama') {
      mock = await startMockOllamaServer({ behavior })
      mocks.push(mock)
      backend = createOllamaBackend({ baseUrl: mock.url, ...(spec.capacity != null ? { capacity: spec.capacity } : {}) })
    }
    const dataDir = await mkdtemp(join(tmpdir(), 'harombe-cmpl-'))
    dirs.push(dataDir)
    const peer = createPeer({
      apiHost: '127.0.0.1',
      apiPort: 0,
      listen: ['/ip4/127.0.0.1/tcp/0'],
      mdns: false,
      profile: 'test',
      bootstrap,
      ...spec.peer,
      dataDir,
      name: spec.name,
      tier: spec.tier ?? 0,
      ...(backend != null ? { backend } : {})
    })
    peers.push(peer)
    const info = await peer.start()
    const node: ClusterNode = { name: spec.name, peer, ...(mock != null ? { mock } : {}), api: info.apiUrl, id: info.peerId }
    nodes.push(node)
    return node
  }

  return {
    async start (specs, convergeMs = 5_000) {
      const started: ClusterNode[] = []
      for (const spec of specs) {
        const first = started[0]
        started.push(await startOne(spec, first != null ? [first.peer.info().meshAddrs[0] ?? ''] : []))
      }
      // Alive is not enough: routing needs each peer's models, which arrive with its announcement.
      const ids = started.map(n => n.id)
      await Promise.all(started.map(async n => {
        await waitForView(n.peer, cl => ids.every(id => {
          const p = cl.peers.find(x => x.peer_id === id)
          return p != null && p.state === 'alive' && (p.self || p.models.length > 0 || specs[ids.indexOf(id)]?.backend === 'none')
        }), convergeMs, `all ${ids.length} peers alive with their models`)
      }))
      return started
    },

    node (name) {
      const found = nodes.find(n => n.name === name)
      if (found == null) throw new Error(`no node named ${name}`)
      return found
    },

    async stop () {
      await Promise.all(peers.splice(0).map(async p => { await p.crash().catch(() => {}) }))
      await Promise.all(mocks.splice(0).map(async m => { await m.close().catch(() => {}) }))
      await Promise.all(dirs.splice(0).map(async d => { await rm(d, { recursive: true, force: true }) }))
      nodes.length = 0
    }
  }
}

/** Awaits `promise`, failing with `what` after `ms` instead of hanging the test. */
export async function within<T> (promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => { reject(new Error(`timed out after ${ms} ms waiting for ${what}`)) }, ms)
  })
  try {
    return await Promise.race([promise, timeout])
  } finally {
    clearTimeout(timer)
  }
}

/**
 * POSTs JSON (or a raw string) to a peer's API. Always bounded by `timeoutMs` (default 10 s), so a
 * hang fails the test instead of stalling it; `signal` lets the test abort earlier itself.
 */
export async function postJson (url: string, body: unknown, init: { headers?: Record<string, string>, timeoutMs?: number, signal?: AbortSignal } = {}): Promise<Response> {
  const timeout = AbortSignal.timeout(init.timeoutMs ?? 10_000)
  const signal = init.signal != null ? AbortSignal.any([init.signal, timeout]) : timeout
  return await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...init.headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
    signal
  })
}

/** The lines of an NDJSON body, parsed. */
export function ndjson (text: string): any[] {
  return text.split('\n').filter(line => line.trim() !== '').map(line => JSON.parse(line))
}

/** The `data:` payloads of an SSE body, in order. */
export function sseData (text: string): string[] {
  return text.split('\n\n').map(event => event.split('\n').filter(l => l.startsWith('data:')).map(l => l.slice(5).trimStart()).join('\n')).filter(d => d !== '')
}

/** A one-message chat body. */
export function ask (content = 'hi', fields: Record<string, unknown> = {}): Record<string, unknown> {
  return { model: MODEL, messages: [{ role: 'user', content }], ...fields }
}
