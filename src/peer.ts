import './polyfill.js'
import { hostname } from 'node:os'
import { join } from 'node:path'
import { createMeshNode, type MeshNode } from './mesh/node.js'
import { loadOrCreateIdentity } from './mesh/identity.js'
import { createAutoDial, type AutoDial } from './mesh/auto-dial.js'
import { createConnectionTrimmer, type ConnectionTrimmer } from './mesh/connection-trimmer.js'
import { DEFAULT_MAX_CONNECTED_PEERS, GOSSIPSUB_PROTOCOLS, SWIM_PROTOCOL } from './mesh/constants.js'
import { announcementMessageId } from './membership/announcement-topic.js'
import { COMPLETE_PROTOCOL } from './protocol/constants.js'
import { DEFAULT_DRAIN_TIMEOUT_MS, DEFAULT_LISTEN, DEFAULT_MAX_TOKENS_CAP, DEFAULT_REQUEST_TIMEOUT_MS } from './config/constants.js'
import { createMembership, type Membership } from './membership/service.js'
import { PROFILES, type TimingProfile } from './membership/profiles.js'
import type { ViewChange } from './membership/view.js'
import { createHttpServer, ListenError, type HttpServer } from './http/server.js'
import { clusterJson } from './http/cluster-json.js'
import type { ClusterJson } from './api/cluster-json.js'
import { silentLogger } from './log.js'
import type { CompletionService } from './completion/service.js'
import { createPeerCompletions, type PeerCompletions } from './completion/peer-completions.js'
import { isAnswering } from './protocol/answering.js'
import { createDrain, drainableBackend } from './completion/drain.js'
import { continuingBackend } from './completion/continuing-backend.js'
import { DEFAULT_MAX_HANDOVERS } from './completion/continuation.js'
import { NoPeerError, TimeoutError, UnavailableError } from './completion/errors.js'
import { createDeadline } from './completion/deadline.js'
import { boundedBackend } from './completion/bounded-backend.js'
import { DEFAULT_POLICY } from './routing/router.js'
import { createListedNodes, type ListedNodes } from './client/listed-nodes.js'
import { createLocalClient } from './client/local-client.js'
import { listedNodesJson } from './http/listed-nodes-json.js'
import { createModelWatch } from './backends/model-watch.js'
import { describeBackendNow } from './backends/model-map.js'
import { watchNameClash, type NameClashWatch } from './membership/name-clash.js'
import { VERSION } from './version.js'
import type { ModelSharing } from './sharing/service.js'
import { shareRoots, sharingMembers } from './sharing/options.js'
import { createPeerEmbeddings, type PeerEmbeddings } from './embeddings/peer-embeddings.js'
import type { EmbeddingService } from './embeddings/service.js'
import { createPeerModelInfo } from './model-info/service.js'
import { BoundedRegistry } from './util/bounded-registry.js'
import type { Peer, PeerInfo, PeerInit } from './peer-types.js'

export type { Peer, PeerInfo, PeerInit } from './peer-types.js'

/** Queue depth per unit of capacity: long enough to absorb a burst, short enough to fail over fast. */
const DEFAULT_QUEUE_PER_SLOT = 4
/** A cold backend (model load, first prompt) can take a while before its first token. */
const DEFAULT_FIRST_TOKEN_TIMEOUT_MS = 60_000
/** mDNS answers within ~1 s on a working LAN; ten times that without one means multicast is blocked, or the LAN is empty. */
const MDNS_QUIET_WARN_MS = 10_000
/** Bound on one ask of the backend's model list; beyond it the backend counts as not answering. */
const MODEL_LIST_TIMEOUT_MS = 10_000
/** The composition root: builds mesh, membership, discovery and HTTP, and starts/stops them in order. */
export function createPeer (init: PeerInit): Peer {
  const log = init.logger ?? silentLogger()
  const timing: TimingProfile = typeof init.profile === 'object' ? init.profile : PROFILES[init.profile ?? 'lan']
  const name = init.name ?? hostname()
  let node: MeshNode | undefined
  let membership: Membership | undefined
  let http: HttpServer | undefined
  let autoDial: AutoDial | undefined
  let trimmer: ConnectionTrimmer | undefined
  let info: PeerInfo | undefined
  let stopping: Promise<void> | undefined
  let completions: PeerCompletions | undefined
  let listed: ListedNodes | undefined
  let sharing: ModelSharing | undefined
  let nameWatch: NameClashWatch | undefined
  let embeddings: PeerEmbeddings | undefined
  let modelInfo: ReturnType<typeof createPeerModelInfo> | undefined
  // Model honesty: only what the backend lists is announced and accepted (backends/served-models.ts).
  const modelWatch = init.backend != null
    ? createModelWatch({
      backend: init.backend,
      peerName: name,
      configured: init.models ?? [],
      intervalMs: timing.modelCheckIntervalMs,
      timeoutMs: MODEL_LIST_TIMEOUT_MS,
      logger: log.child({ component: 'backend' }),
      onChange: (models, digests, unserved) => { membership?.updateSelf({ models, digests, unserved }) }
    })
    : undefined
  const models = (): string[] => modelWatch?.models() ?? []
  // Graceful stop drains two kinds of work: HTTP requests (whichever peer serves them) and runs on
  // our backend (for HTTP or mesh callers). New work is refused retryably, so callers go elsewhere.
  const requestDrain = createDrain({
    refuse: () => new NoPeerError('this peer is shutting down; send the request to another peer'),
    abort: ms => new UnavailableError(`this peer shut down before the answer was finished (drain timeout ${ms} ms)`)
  })
  const backendDrain = createDrain({
    refuse: () => new UnavailableError('the serving peer is shutting down'),
    abort: ms => new UnavailableError(`the serving peer shut down before the answer was finished (drain timeout ${ms} ms)`)
  })
  // No request runs for ever (issue 17): each one through this peer is bounded in time, and so is each
  // run of our backend, for any caller (HTTP here or a mesh peer): every peer enforces its own cap and timeout.
  const requestTimeoutMs = init.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS
  // Filled as the peer's parts are built; /metrics and the soak read it (issue 25).
  const structures = new BoundedRegistry()
  const requestDeadline = createDeadline({ timeoutMs: requestTimeoutMs, error: ms => new TimeoutError(`the request ran longer than this peer's request timeout (${ms} ms)`) })
  const backendDeadline = createDeadline({ timeoutMs: requestTimeoutMs, error: ms => new TimeoutError(`the generation ran longer than the serving peer's request timeout (${ms} ms)`) })
  const bounded = init.backend != null ? boundedBackend(init.backend, { maxTokensCap: init.maxTokensCap ?? DEFAULT_MAX_TOKENS_CAP }) : undefined
  // Continued requests (a handover after a peer died mid-answer) return only new text, whatever the server echoes.
  // The drain applies the deadline: one controller per run for both.
  const backend = bounded != null ? drainableBackend(continuingBackend(bounded), backendDrain, backendDeadline) : undefined

  const must = <T>(value: T | undefined): T => {
    if (value == null) throw new Error('peer is not started')
    return value
  }

  const onChange = (listener: (change: ViewChange) => void): () => void => {
    const m = must(membership)
    const handler = (event: CustomEvent<ViewChange>): void => { listener(event.detail) }
    m.addEventListener('change', handler)
    return () => { m.removeEventListener('change', handler) }
  }

  const snapshot = (): ClusterJson => {
    const m = must(membership)
    const i = must(info)
    const view = m.view()
    const nodes = listed != null ? listedNodesJson(listed.nodes(), listed.checks(), view.members.values(), { name: i.name, peerId: i.peerId }) : []
    const backends = init.backend != null ? describeBackendNow(init.backend, models()) : undefined
    const json = clusterJson(view, { peer_id: i.peerId, name: i.name, api: i.apiUrl, addrs: i.meshAddrs, ...(backends != null ? { backends } : {}) }, Date.now(), m.rttMedians(), nodes)
    // Our own load is exact here; what we announce lags by up to a second.
    const load = completions?.localLoad()
    const self = json.peers.find(p => p.self)
    if (load != null && self != null) self.load = load
    return json
  }

  const readiness = (): { ready: true } | { ready: false, reason: string } => {
    if (membership == null || info == null || stopping != null) return { ready: false, reason: 'not started' }
    const loading = init.backend?.loading?.()
    if (models().length > 0 && loading == null) return { ready: true }
    const others = [...membership.view().members.values()].filter(m => m.peerId !== info?.peerId && m.state === 'alive' && m.announcement.models.length > 0)
    if (others.length > 0) return { ready: true }
    if (loading != null) return { ready: false, reason: `${loading}; no other peer serves a model` }
    return { ready: false, reason: init.backend != null ? 'backend lists no models yet and no other peer serves one' : 'no backend and no other alive peer serving a model' }
  }

  const completionService: CompletionService = {
    // Field by field (every ServeOptions field): a spread here cost microseconds per request.
    complete: async (request, options) => await requestDrain.run(options.signal, async signal =>
      await must(completions).service.complete(request, { signal, onAttempt: options.onAttempt, onCommit: options.onCommit, onDelta: options.onDelta }), requestDeadline),
    models: () => completions?.service.models() ?? []
  }

  // Embeddings (issue 29): through the same request drain and timeout as completions.
  const embeddingService: EmbeddingService = {
    embed: async (request, options) => await requestDrain.run(options.signal, async signal => await must(embeddings).service.embed(request, { signal }), requestDeadline)
  }

  const drain = async (): Promise<void> => {
    const timeoutMs = init.drainTimeoutMs ?? DEFAULT_DRAIN_TIMEOUT_MS
    if (requestDrain.active + backendDrain.active > 0) {
      log.info(`draining ${requestDrain.active} HTTP request(s) and ${backendDrain.active} backend run(s), up to ${timeoutMs} ms`)
    }
    const [requests, runs] = await Promise.all([requestDrain.drain(timeoutMs), backendDrain.drain(timeoutMs)])
    if (requests.aborted + runs.aborted > 0) {
      log.warn(`drain timeout (${timeoutMs} ms): aborted ${requests.aborted} HTTP request(s) and ${runs.aborted} backend run(s)`)
    }
  }

  const teardown = async (graceful: boolean): Promise<void> => {
    modelWatch?.stop()
    nameWatch?.stop()
    autoDial?.stop()
    trimmer?.stop()
    if (graceful) {
      // Leaving is announced first, so the others stop routing here while running work finishes.
      const leaving = membership?.leave()
      await drain()
      await leaving
    }
    await listed?.stop()
    await sharing?.stop()
    await embeddings?.stop()
    await modelInfo?.stop()
    await completions?.stop()
    await membership?.stop()
    await http?.stop().catch(err => log.warn({ err }, 'HTTP server did not close cleanly'))
    await node?.stop()
    await init.backend?.close().catch(err => log.warn({ err }, 'backend did not close cleanly'))
  }

  return {
    async start (signal) {
      if (info != null) return info
      try {
        // First, before any port opens: a configured model the backend lacks fails the start.
        await modelWatch?.first(signal)
        const privateKey = await loadOrCreateIdentity(init.dataDir)
        node = await createMeshNode({
          privateKey,
          listen: init.listen ?? [...DEFAULT_LISTEN],
          bootstrap: init.bootstrap,
          mdns: init.mdns ?? true,
          meshKey: init.meshKey,
          logger: log.child({ component: 'mesh' }),
          gossipMessageId: announcementMessageId
        })
        http = createHttpServer({
          host: init.apiHost ?? '127.0.0.1',
          port: init.apiPort ?? 8000,
          token: init.token,
          logger: log.child({ component: 'http' }),
          cluster: { snapshot, selfId: () => must(info).peerId, onChange, readiness },
          meshConnections: () => node?.getConnections().length ?? 0,
          meshStreams: () => (node?.getConnections() ?? []).reduce((sum, c) => sum + c.streams.length, 0),
          breakers: () => completions?.breakers.snapshot(Date.now()) ?? new Map(),
          gossip: () => membership?.gossipCounts(),
          timeouts: () => ({ request: requestDeadline.expired, backend: backendDeadline.expired }),
          bounded: structures,
          completions: completionService,
          embeddings: embeddingService,
          modelInfo: { show: async (model, s) => await must(modelInfo).show(model, s), ps: async s => await must(modelInfo).ps(s) },
          sharing: () => sharing
        })
        // The API comes up first: its port goes into our announcement.
        const apiUrl = await http.start()
        try {
          await node.start()
        } catch (err: any) {
          // libp2p folds stacks into some messages: keep the first line only.
          const message = String(err?.message ?? err)
          const reason = /EADDRINUSE/.test(message) ? 'address already in use' : message.split('\n')[0]
          throw new ListenError(`cannot listen on ${(init.listen ?? DEFAULT_LISTEN).join(', ')}: ${reason}`)
        }
        const maxConnections = init.maxConnections ?? DEFAULT_MAX_CONNECTED_PEERS
        trimmer = createConnectionTrimmer(node, {
          max: maxConnections,
          idleMs: init.connectionTrim?.idleMs,
          intervalMs: init.connectionTrim?.intervalMs,
          // Both keep a stream open for a connection's life: an open one is no exchange in flight.
          idleStreamProtocols: [COMPLETE_PROTOCOL, SWIM_PROTOCOL, ...GOSSIPSUB_PROTOCOLS],
          bounded: structures,
          logger: log.child({ component: 'trim' })
        })
        trimmer.start()
        info = {
          name,
          peerId: node.peerId.toString(),
          apiUrl,
          meshAddrs: node.getMultiaddrs().map(a => a.toString())
        }
        membership = createMembership(node, {
          privateKey,
          self: {
            name,
            models: models(),
            digests: modelWatch?.digests() ?? {},
            unserved: modelWatch?.unserved(),
            tier: init.tier ?? 0,
            enabled: init.enabled ?? true,
            load: { active: 0, queued: 0, capacity: init.backend?.capacity ?? 0 },
            apiPort: Number(new URL(apiUrl).port),
            version: VERSION
          },
          timing,
          isAnswering: peerId => node != null && isAnswering(node, peerId),
          closedOnPurpose: peerId => trimmer?.closedOnPurpose(peerId) === true,
          bounded: structures,
          logger: log.child({ component: 'membership' })
        })
        await membership.start()
        // Two peers started under one name (both default to the hostname): the later one takes another.
        const self = info
        nameWatch = watchNameClash(membership, info.peerId, log.child({ component: 'membership' }), next => { self.name = next })
        modelWatch?.start()
        if (init.sharing != null) {
          const m = membership
          const selfId = info.peerId
          // Imported only when sharing is on: a `--no-share` peer loads none of it.
          const { createModelSharing } = await import('./sharing/service.js')
          sharing = createModelSharing({
            node,
            members: () => sharingMembers(m.view().members.values(), selfId),
            announce: files => { m.updateSelf({ files }) },
            roots: shareRoots(init.sharing),
            modelsDir: init.sharing.modelsDir,
            cacheFile: join(init.dataDir, 'model-hashes.json'),
            ...pickDefined(init.sharing, ['chunkSize', 'rescanIntervalMs', 'rateBytesPerSecond', 'maxUploads', 'fetcher', 'policy']),
            logger: log.child({ component: 'sharing' })
          })
          // Registers the protocol and starts scanning; hashing runs on in the background.
          await sharing.start()
        }
        listed = createListedNodes({
          nodes: init.listedNodes ?? [],
          selfName: name,
          intervalMs: timing.listedCheckIntervalMs,
          timeoutMs: timing.pingTimeoutMs,
          logger: log.child({ component: 'listed' })
        })
        const l = listed
        const meshNames = (): Set<string> => new Set([...(membership?.view().members.values() ?? [])].filter(x => x.state === 'alive').map(x => x.announcement.name))
        completions = createPeerCompletions({
          extraCandidates: () => l.candidates(meshNames()),
          disabledNames: new Set((init.listedNodes ?? []).filter(n => n.enabled === false).map(n => n.name)),
          runHttp: l.run,
          node,
          membership,
          backend,
          models,
          policy: init.routing ?? DEFAULT_POLICY,
          ...(init.routePolicy != null ? { routePolicy: init.routePolicy } : {}),
          ...(init.affinity != null ? { affinity: init.affinity } : {}),
          maxQueue: init.maxQueue ?? Math.max(1, init.backend?.capacity ?? 1) * DEFAULT_QUEUE_PER_SLOT,
          maxRetries: init.maxRetries ?? 2,
          firstTokenTimeoutMs: init.firstTokenTimeoutMs ?? DEFAULT_FIRST_TOKEN_TIMEOUT_MS,
          ...(init.interTokenTimeoutMs != null ? { interTokenTimeoutMs: init.interTokenTimeoutMs } : {}),
          continuation: { enabled: init.continuation ?? true, maxHandovers: init.maxHandovers ?? DEFAULT_MAX_HANDOVERS },
          bounded: structures,
          logger: log.child({ component: 'complete' })
        })
        await completions.start()
        embeddings = createPeerEmbeddings({
          node,
          membership,
          ...(init.backend?.embed != null ? { embed: init.backend.embed } : {}),
          models,
          capacity: init.backend?.capacity ?? 1,
          maxQueue: init.maxQueue ?? Math.max(1, init.backend?.capacity ?? 1) * DEFAULT_QUEUE_PER_SLOT,
          policy: init.routing ?? DEFAULT_POLICY,
          breakers: completions.breakers,
          maxRetries: init.maxRetries ?? 2,
          drain: backendDrain,
          deadline: backendDeadline,
          bounded: structures,
          extraCandidates: () => l.candidates(meshNames()),
          runHttp: l.embed,
          logger: log.child({ component: 'embed' })
        })
        await embeddings.start()
        modelInfo = createPeerModelInfo({ node, membership, ...(init.backend != null ? { source: init.backend } : {}), models, logger: log.child({ component: 'model-info' }) })
        await modelInfo.start()
        listed.start()
        const m = membership
        autoDial = createAutoDial(node, {
          bootstrap: init.bootstrap ?? [],
          redialIntervalMs: timing.redialIntervalMs,
          wanted: () => [...m.dialTargets(), ...l.targets()],
          logger: log.child({ component: 'dial' }),
          dialTarget: Math.max(1, Math.floor(maxConnections / 2)),
          quietDiscoveryWarnMs: (init.mdns ?? true) ? MDNS_QUIET_WARN_MS : undefined,
          bounded: structures
        })
        autoDial.start()
        if (init.requireBootstrap === true) await autoDial.waitForBootstrap(timing.joinTimeoutMs, signal)
        return info
      } catch (err) {
        await teardown(false).catch(() => {})
        info = undefined
        throw err
      }
    },

    async stop () {
      stopping ??= teardown(true)
      await stopping
    },

    async crash () {
      stopping ??= teardown(false)
      await stopping
    },

    info: () => must(info),
    membership: () => must(membership),
    mesh: () => must(node),
    connectionTrimmer: () => must(trimmer),
    onChange,
    cluster: snapshot,
    completions: () => completionService,
    client: () => createLocalClient({ completions: () => completionService, cluster: snapshot }),
    sharing: () => sharing
  }
}

/** The keys of `from` that are set, for optional fields under exactOptionalPropertyTypes-style checks. */
function pickDefined<T extends object, K extends keyof T> (from: T, keys: K[]): Partial<Pick<T, K>> {
  const out: Partial<Pick<T, K>> = {}
  for (const key of keys) if (from[key] !== undefined) out[key] = from[key]
  return out
}
