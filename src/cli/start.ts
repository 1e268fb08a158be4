import { homedir, hostname } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { ConfigError, loadClusterConfig, nodeListen, nodeModels, parsePeerOptions, type ClusterConfig, type ClusterNode, type PeerOptions, type PeerOptionsInput } from '../config/index.js'
import { createLogger } from '../log.js'
import { readMeshKey } from '../mesh/mesh-key.js'
import { exposedApiWarning } from '../http/auth.js'
import type { ListedNode } from '../client/listed-nodes.js'
import { describeError, exitCodeFor, UsageError } from './errors.js'
import { DEFAULT_POLICY, policyFromConfig, type RoutingPolicy } from '../routing/router.js'
import { buildBackends, type BackendPlan } from '../backends/build.js'
import { planBackends } from './start-backends.js'
import { defaultOllamaDir, type SharingOptions } from '../sharing/options.js'
import { releaseYoungGeneration } from './young-generation.js'
import { openMeshNotice, readyJson, readyText } from './ready-line.js'

export interface StartFlags {
  name?: string
  tier?: string
  /** `--backend`, repeatable (a library caller may pass one string). */
  backend?: string | string[]
  backendUrl?: string
  backendKey?: string
  model?: string[]
  modelFile?: string
  /** `--no-prompt-cache` sets it false: the embedded backend starts every request from a clean slate. */
  promptCache?: boolean
  apiHost?: string
  apiPort?: string
  listen?: string[]
  bootstrap?: string[]
  mdns?: boolean
  meshKey?: string
  token?: string
  dataDir?: string
  config?: string
  /** With --config: start even when --name is not one of the file's nodes. */
  allowUnlisted?: boolean
  /** Print the ready line as one JSON object. */
  json?: boolean
  jsonLogs?: boolean
  logLevel?: string
  drainTimeout?: string
  maxTokensCap?: string
  /** `--no-continue` sets it false: no mid-answer handovers from this peer. */
  continue?: boolean
  maxHandovers?: string
  requestTimeout?: string
  profile?: 'lan' | 'test'
  /** `--no-share` sets it false. */
  share?: boolean
  modelsDir?: string
  shareDir?: string[]
  shareOllama?: boolean | string
  shareRate?: string
  shareUploads?: string
  routePolicy?: string
}

/**
 * How long a graceful stop may take beyond the drain of in-flight completions before the process
 * exits anyway: announcing leave, then node.stop() (up to ~3.5 s, LIBP2P-NOTES 10).
 */
const STOP_AFTER_DRAIN_MS = 4_500

export const DEFAULT_DATA_DIR = join(homedir(), '.config', 'harombe-peer')

export interface ResolvedStart {
  options: PeerOptions
  listedNodes: ListedNode[]
  /** False when this peer's own entry says `enabled: false`: it announces itself disabled and is never routed to. */
  enabled: boolean
  routing: RoutingPolicy
  /** The backends to build, or detection (start-backends.ts). */
  backends: BackendPlan
  warnings: string[]
}

/** Merges flags, env and the cluster file (flags win), and validates the result. */
export async function resolveStartOptions (flags: StartFlags, env: NodeJS.ProcessEnv = process.env): Promise<ResolvedStart> {
  let cluster: ClusterConfig | undefined
  const warnings: string[] = []
  if (flags.config != null) {
    const loaded = await loadClusterConfig(flags.config)
    cluster = loaded.config
    warnings.push(...loaded.warnings)
  }
  const name = flags.name ?? hostname()
  const entry = cluster?.nodes.find(n => n.name === name)
  if (cluster != null && entry == null) {
    // A typo in --name (or a forgotten one: the hostname) would start an unlisted peer beside the
    // node the user meant, which then shows as unreachable: say so before anything starts.
    if (flags.allowUnlisted !== true) throw new UsageError(unlistedNameMessage(flags.config ?? '', name, flags.name == null, cluster.nodes.map(n => n.name)))
    warnings.push(`${flags.config}: no node named "${name}"; this peer joins with its own flags and reaches the ${cluster.nodes.length} listed node(s)`)
  }

  // Untyped on purpose: flags are strings until validation says otherwise.
  const input: Record<keyof PeerOptionsInput, unknown> = {
    name,
    tier: flags.tier != null ? toNumber(flags.tier) : entry?.tier,
    // The backends are planned below (planBackends); this keeps the single kind for callers that read it.
    backend: Array.isArray(flags.backend) ? undefined : flags.backend ?? entry?.backend,
    backendUrl: flags.backendUrl ?? entry?.backend_url,
    backendKey: flags.backendKey ?? emptyToUndefined(env.HAROMBE_BACKEND_KEY) ?? (entry != null ? entryBackendKey(entry, flags.config ?? '', env) : undefined),
    models: flags.model ?? (entry != null ? nodeModels(entry) : undefined),
    // Relative to the cluster file, which is where the user wrote it
    modelFile: flags.modelFile ?? (entry?.model_file != null ? resolve(dirname(flags.config ?? '.'), entry.model_file) : undefined),
    promptCache: flags.promptCache === false ? false : entry?.prompt_cache,
    apiHost: flags.apiHost ?? entry?.api_host,
    apiPort: flags.apiPort != null ? toNumber(flags.apiPort) : entry?.port,
    listen: flags.listen ?? (entry != null ? nodeListen(entry) : undefined),
    bootstrap: flags.bootstrap ?? cluster?.discovery.bootstrap,
    mdns: flags.mdns === false ? false : (cluster != null ? cluster.discovery.method === 'mdns' : true),
    meshKeyFile: flags.meshKey,
    token: flags.token ?? emptyToUndefined(env.HAROMBE_TOKEN),
    dataDir: flags.dataDir ?? DEFAULT_DATA_DIR,
    profile: flags.profile,
    logLevel: flags.logLevel,
    jsonLogs: flags.jsonLogs,
    drainTimeoutMs: flags.drainTimeout != null ? toNumber(flags.drainTimeout) : undefined,
    maxHandovers: flags.maxHandovers != null ? toNumber(flags.maxHandovers) : undefined,
    maxTokensCap: flags.maxTokensCap != null ? toNumber(flags.maxTokensCap) : undefined,
    requestTimeoutMs: flags.requestTimeout != null ? toNumber(flags.requestTimeout) : undefined,
    share: flags.share !== false,
    modelsDir: flags.modelsDir,
    shareDirs: flags.shareDir,
    shareOllama: flags.shareOllama,
    shareRate: flags.shareRate != null ? byteRate(flags.shareRate) : undefined,
    shareUploads: flags.shareUploads != null ? toNumber(flags.shareUploads) : undefined,
    routePolicy: flags.routePolicy
  }

  let options: PeerOptions
  try {
    options = parsePeerOptions(input)
  } catch (err) {
    if (err instanceof ConfigError) throw new UsageError(err.problems.map(p => `--${kebab(p.path.split('.')[0] ?? p.path)}: ${p.message}`).join('\n'))
    throw err
  }
  for (const listen of options.listen) {
    if (!/\/tcp\/\d+/.test(listen)) throw new UsageError(`--listen ${listen}: the mesh listens on TCP, e.g. /ip4/0.0.0.0/tcp/4700`)
  }
  for (const bootstrap of options.bootstrap) {
    if (!bootstrap.includes('/p2p/')) throw new UsageError(`--bootstrap ${bootstrap}: needs the peer id, e.g. /ip4/192.0.2.1/tcp/4700/p2p/12D3Koo…`)
  }
  // All of them, this peer's entry and disabled ones too: every view shows the whole file.
  const listedNodes = (cluster?.nodes ?? [])
    .map(n => ({ name: n.name, host: n.host, port: n.port, authToken: n.auth_token, models: nodeModels(n), tier: n.tier, enabled: n.enabled }))
  const routing = cluster != null ? policyFromConfig(cluster.routing) : DEFAULT_POLICY
  const backendList = typeof flags.backend === 'string' ? [flags.backend] : flags.backend
  const backends = planBackends({ backend: backendList, backendUrl: flags.backendUrl, backendKey: options.backendKey, modelFile: flags.modelFile }, { file: flags.config, entry, env })
  return { options, listedNodes, enabled: entry?.enabled ?? true, routing, backends, warnings }
}

export async function runStart (flags: StartFlags): Promise<void> {
  const { options, listedNodes, enabled, routing, backends, warnings } = await resolveStartOptions(flags)
  const log = createLogger({ level: options.logLevel, json: options.jsonLogs })
  for (const warning of [...warnings, exposedApiWarning(options.apiHost, options.token)]) if (warning != null) log.warn(warning)
  const meshKey = options.meshKeyFile != null ? await readMeshKey(options.meshKeyFile) : undefined

  // The tiny model begins loading once the ready line is out (its load would slow the start).
  let readyPrinted = (): void => {}
  const afterReady = new Promise<void>(resolve => { readyPrinted = resolve })
  let shownPercent = -1
  // From the model's first progress report: loading llama.cpp's binding before it is no model load.
  let loadStarted: number | undefined
  const { backend, found, detectMs } = await buildBackends(backends, {
    env: process.env,
    promptCache: options.promptCache,
    dataDir: options.dataDir,
    logger: log.child({ component: 'backend' }),
    // The bundled tiny model loads after the ready line (a peer is ready in a fraction of the time);
    // should that load fail, the peer stops as a bad --model-file would have before it.
    deferLoad: {
      after: afterReady,
      onError: err => {
        process.stderr.write(describeError(err, false) + '\n')
        process.exit(exitCodeFor(err))
      }
    },
    onProgress: fraction => {
      // Every 10 %: enough to see a big model load move, without flooding the log.
      // A load that finishes within half a second (the tiny model) needs no progress at all.
      const percent = Math.floor(fraction * 10) * 10
      loadStarted ??= Date.now()
      if (percent > shownPercent && Date.now() - loadStarted > 500) {
        shownPercent = percent
        log.info(`loading model: ${percent}%`)
      }
    }
  })

  // libp2p is loaded only now: `--help` and option errors stay instant.
  const { createPeer } = await import('../peer.js')
  const peer = createPeer({
    backend,
    routing,
    dataDir: options.dataDir,
    name: options.name,
    tier: options.tier,
    enabled,
    models: options.models,
    apiHost: options.apiHost,
    apiPort: options.apiPort,
    token: options.token,
    listen: options.listen,
    bootstrap: options.bootstrap,
    mdns: options.mdns,
    meshKey,
    listedNodes,
    profile: options.profile,
    // Without mDNS or listed nodes a bootstrap list is the only way in: not reaching it is fatal.
    requireBootstrap: options.bootstrap.length > 0 && !options.mdns && !listedNodes.some(n => n.name !== options.name && n.enabled),
    drainTimeoutMs: options.drainTimeoutMs,
    continuation: flags.continue !== false,
    routePolicy: options.routePolicy,
    maxHandovers: options.maxHandovers,
    maxTokensCap: options.maxTokensCap,
    requestTimeoutMs: options.requestTimeoutMs,
    ...(options.share ? { sharing: sharingOptions(options) } : {}),
    logger: log
  })

  const startAbort = new AbortController()
  let shuttingDown = false
  const shutdown = (signal: string): void => {
    if (shuttingDown) {
      log.warn(`${signal} again: exiting now`)
      process.exit(1)
    }
    shuttingDown = true
    startAbort.abort(new Error(`interrupted by ${signal}`))
    log.info(`${signal}: leaving the mesh`)
    const deadlineMs = options.drainTimeoutMs + STOP_AFTER_DRAIN_MS
    const deadline = setTimeout(() => {
      log.warn(`shutdown took over ${deadlineMs} ms; exiting anyway`)
      process.exit(0)
    }, deadlineMs)
    deadline.unref()
    peer.stop().then(() => process.exit(0), (err) => {
      log.error({ err }, 'shutdown failed')
      process.exit(1)
    })
  }
  process.on('SIGINT', () => { shutdown('SIGINT') })
  process.on('SIGTERM', () => { shutdown('SIGTERM') })

  if (found != null) log.info(`found: ${found} (asked in ${detectMs ?? '?'} ms)`)
  const info = await peer.start(startAbort.signal)
  const notice = openMeshNotice({ meshKey: meshKey != null, mdns: options.mdns, listen: options.listen })
  // stderr, like every log line: stdout stays the one ready line scripts parse.
  if (notice != null) log.warn(notice)
  const ready = { ...info, ...(found != null ? { found } : {}) }
  process.stdout.write((flags.json === true ? readyJson(ready, notice) : readyText(ready)) + '\n')
  readyPrinted()
  releaseYoungGeneration()
}

/** The one line for a --name the cluster file does not list. */
export function unlistedNameMessage (file: string, name: string, fromHostname: boolean, names: readonly string[]): string {
  const listed = names.length > 0 ? `it lists: ${names.join(', ')}` : 'it lists no node'
  const which = fromHostname ? ` (the hostname; no --name given)` : ''
  return `${file} has no node named "${name}"${which}; ${listed}. Pass --name <one of them>, or --allow-unlisted to join as a peer the file does not list`
}

/** The entry's `backend_key`, or the variable `backend_key_env` names: it must be set on this machine. */
function entryBackendKey (entry: ClusterNode, file: string, env: NodeJS.ProcessEnv): string | undefined {
  if (entry.backend_key_env == null) return entry.backend_key
  const value = env[entry.backend_key_env]
  if (value == null || value === '') throw new UsageError(`${file}: node "${entry.name}": backend_key_env names ${entry.backend_key_env}, which is not set in this environment`)
  return value
}

/** `--share-rate 50M` → 50000000 (K, M, G: powers of 1000, as link speeds are written). */
export function byteRate (text: string): number | string {
  const m = /^(\d+(?:\.\d+)?)\s*([kmg]?)b?$/i.exec(text.trim())
  if (m == null) return text
  const scale = { '': 1, k: 1e3, m: 1e6, g: 1e9 }[(m[2] ?? '').toLowerCase()] ?? 1
  return Math.round(Number(m[1]) * scale)
}

function sharingOptions (options: PeerOptions): SharingOptions {
  return {
    modelsDir: resolve(options.modelsDir ?? join(options.dataDir, 'models')),
    shareDirs: options.shareDirs.map(d => resolve(d)),
    ...(options.shareOllama !== false ? { ollamaDir: resolve(options.shareOllama === true ? defaultOllamaDir() : options.shareOllama) } : {}),
    ...(options.shareRate != null ? { rateBytesPerSecond: options.shareRate } : {}),
    maxUploads: options.shareUploads
  }
}

function toNumber (text: string): number | string {
  // Keep non-numbers as strings so validation reports the value the user typed.
  return /^-?\d+$/.test(text.trim()) ? Number(text) : text
}

function emptyToUndefined (value: string | undefined): string | undefined {
  return value == null || value === '' ? undefined : value
}

function kebab (path: string): string {
  const key = path.replace(/\[\d+\]$/, '')
  const flag = key.replace(/[A-Z]/g, c => `-${c.toLowerCase()}`)
  return { models: 'model', 'mesh-key-file': 'mesh-key', mdns: 'no-mdns', 'drain-timeout-ms': 'drain-timeout', 'request-timeout-ms': 'request-timeout', 'share-dirs': 'share-dir', share: 'no-share' }[flag] ?? flag
}
