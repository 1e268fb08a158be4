import { multiaddr } from '@multiformats/multiaddr'
import { z } from 'zod'
import {
  DEFAULT_API_HOST,
  DEFAULT_API_PORT,
  DEFAULT_DRAIN_TIMEOUT_MS,
  DEFAULT_COORDINATOR_HOST,
  DEFAULT_DISCOVERY_METHOD,
  DEFAULT_FALLBACK_STRATEGY,
  DEFAULT_LISTEN,
  DEFAULT_LOAD_BALANCE,
  DEFAULT_LOG_LEVEL,
  DEFAULT_NODE_ENABLED,
  DEFAULT_PREFER_LOCAL,
  DEFAULT_PROFILE,
  DEFAULT_TIER,
  DEFAULT_MAX_TOKENS_CAP,
  DEFAULT_REQUEST_TIMEOUT_MS
} from './constants.js'
import { MAX_REQUEST_TOKENS } from '../completion/token-budget.js'
import { DEFAULT_MAX_HANDOVERS } from '../completion/continuation.js'
import { DEFAULT_ROUTE_POLICY, ROUTE_POLICIES } from '../routing/affinity-config.js'
import { BackendListSchema } from './backends-schema.js'

export const TIERS = [0, 1, 2] as const
export const DISCOVERY_METHODS = ['mdns', 'explicit'] as const
export const FALLBACK_STRATEGIES = ['graceful', 'strict'] as const
export const BACKENDS = ['embedded', 'ollama', 'openai', 'none'] as const
export const PROFILE_NAMES = ['lan', 'test'] as const
// pino's levels, so the value can be handed to the logger as is
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const

/**
 * Messages in the config's terms ("expected 0, 1 or 2") instead of zod's JS
 * ones ("expected number, received string"), worded the same whether the value
 * is wrong or missing. A schema-level error also covers that schema's checks
 * (min, max, int), so one call per field is enough.
 */
function expected (what: string): { error: (issue: { input?: unknown }) => string } {
  return {
    error: (issue) => issue.input === undefined ? `required (expected ${what})` : `expected ${what}`
  }
}

function multiaddrProblem (value: string): string | undefined {
  // multiaddr('') parses as the empty address, which can never be dialled
  if (!value.startsWith('/')) {
    return 'must start with "/"'
  }
  try {
    multiaddr(value)
    return undefined
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err)
    return message.charAt(0).toLowerCase() + message.slice(1)
  }
}

export const MultiaddrSchema = z.string(expected('a multiaddr string')).superRefine((value, ctx) => {
  const reason = multiaddrProblem(value)
  if (reason !== undefined) {
    ctx.addIssue({ code: 'custom', input: value, message: `not a valid multiaddr ${JSON.stringify(value)}: ${reason}` })
  }
})

export const TierSchema = z.literal(TIERS, expected('0, 1 or 2'))
export const PortSchema = z.int(expected('an integer from 1 to 65535')).min(1).max(65535)

const ModelNameSchema = z.string(expected('a non-empty model name')).min(1)
export const ModelSchema = z.union(
  [ModelNameSchema, z.array(ModelNameSchema, expected('a model name or a non-empty list of model names')).min(1)],
  expected('a model name or a non-empty list of model names')
)

const HostSchema = z.string(expected('a host name or IP address')).min(1)
const BooleanSchema = z.boolean(expected('true or false'))

const BackendSchema = z.enum(BACKENDS, expected('embedded, ollama, openai or none'))
const BackendUrlSchema = z.url({ protocol: /^https?$/, ...expected('an http(s) URL') })
const NonEmptySchema = z.string(expected('a non-empty string')).min(1)
/**
 * A bearer token goes in an HTTP header (`Authorization: Bearer <token>`): only visible ASCII
 * fits there. Anything else (the seed's example "…", a pasted space) failed at the first forward
 * with a cryptic ByteString error instead of here.
 */
export const TOKEN_PATTERN = /^[\x21-\x7e]+$/
export const TOKEN_RULE = 'visible ASCII characters only (it is sent in an HTTP Authorization header)'
const TokenSchema = z.string(expected('a non-empty string')).min(1).superRefine((value, ctx) => {
  if (!TOKEN_PATTERN.test(value)) {
    const bad = [...value].find(c => !TOKEN_PATTERN.test(c)) ?? ''
    ctx.addIssue({ code: 'custom', input: value, message: `expected ${TOKEN_RULE}; ${JSON.stringify(bad)} is not` })
  }
})
// The variable is looked up on the machine that starts the node, so only its name is checked here
const EnvNameSchema = z.string(expected('an environment variable name')).regex(/^[A-Za-z_][A-Za-z0-9_]*$/)
const ListenSchema = z.union([MultiaddrSchema, z.array(MultiaddrSchema).min(1)], expected('a multiaddr or a non-empty list of multiaddrs'))

/**
 * The seed's node entry, extended with how that machine runs its peer (backend, API bind
 * address, mesh listen address), so one file describes the whole cluster and every machine
 * runs `start --config cluster.yaml --name <me>`. The extension keys apply only to the peer
 * whose --name picks the entry; flags still override them.
 */
export const ClusterNodeSchema = z.strictObject({
  name: z.string(expected('a non-empty node name')).min(1),
  host: HostSchema,
  port: PortSchema,
  model: ModelSchema,
  tier: TierSchema,
  auth_token: TokenSchema.optional(),
  enabled: BooleanSchema.default(DEFAULT_NODE_ENABLED),
  backend: BackendSchema.optional(),
  // Several backends behind this peer (issue 28); the single `backend*` keys stay valid.
  backends: BackendListSchema.optional(),
  backend_url: BackendUrlSchema.optional(),
  backend_key: NonEmptySchema.optional(),
  backend_key_env: EnvNameSchema.optional(),
  model_file: z.string(expected('a file path')).min(1).optional(),
  // Embedded: false clears each sequence after every request (no prefix reuse between requests)
  prompt_cache: BooleanSchema.optional(),
  api_host: HostSchema.optional(),
  listen: ListenSchema.optional()
}, expected('a node mapping with name, host, port, model and tier')).superRefine((node, ctx) => {
  if (node.backends != null && (node.backend != null || node.backend_url != null)) {
    ctx.addIssue({ code: 'custom', path: ['backends'], input: node.backends, message: 'set backends (a list) or backend and backend_url, not both' })
  }
  if (node.backend_key != null && node.backend_key_env != null) {
    ctx.addIssue({ code: 'custom', path: ['backend_key_env'], input: node.backend_key_env, message: 'set backend_key or backend_key_env, not both' })
  }
})

// Names identify peers in the view and pick "this peer" for `start --config`,
// so a duplicate would make either ambiguous
export const ClusterNodesSchema = z.array(ClusterNodeSchema, expected('a list of nodes')).superRefine((nodes, ctx) => {
  const firstIndex = new Map<string, number>()
  nodes.forEach((node: unknown, index) => {
    const name = (node as { name?: unknown } | null)?.name
    if (typeof name !== 'string') {
      return
    }
    const first = firstIndex.get(name)
    if (first === undefined) {
      firstIndex.set(name, index)
    } else {
      ctx.addIssue({ code: 'custom', path: [index, 'name'], input: name, message: `duplicate node name ${JSON.stringify(name)}, already used by nodes[${first}]` })
    }
  })
}, {
  // Run even when some node is invalid, so a duplicate is reported together
  // with every other problem instead of on the next attempt
  when: (payload) => Array.isArray(payload.value)
})

export const CoordinatorSchema = z.strictObject({
  host: HostSchema.default(DEFAULT_COORDINATOR_HOST)
}, expected('a mapping such as { host: localhost }')).prefault({})

export const DiscoverySchema = z.strictObject({
  method: z.enum(DISCOVERY_METHODS, expected('mdns or explicit')).default(DEFAULT_DISCOVERY_METHOD),
  bootstrap: z.array(MultiaddrSchema, expected('a list of multiaddrs')).default(() => [])
}, expected('a mapping such as { method: mdns }')).prefault({})

export const RoutingSchema = z.strictObject({
  prefer_local: BooleanSchema.default(DEFAULT_PREFER_LOCAL),
  fallback_strategy: z.enum(FALLBACK_STRATEGIES, expected('graceful or strict')).default(DEFAULT_FALLBACK_STRATEGY),
  load_balance: BooleanSchema.default(DEFAULT_LOAD_BALANCE)
}, expected('a mapping such as { prefer_local: true, fallback_strategy: graceful }')).prefault({})

/** The `cluster:` section of the seed's YAML */
export const ClusterConfigSchema = z.strictObject({
  coordinator: CoordinatorSchema,
  discovery: DiscoverySchema,
  routing: RoutingSchema,
  // Empty is valid: with mDNS a peer needs no list to find the others
  nodes: ClusterNodesSchema.default(() => [])
}, {
  error: (issue) => issue.input === undefined
    ? 'required: the file must have a top-level `cluster:` mapping'
    : 'expected a mapping with coordinator, discovery, routing and nodes'
})

/**
 * The whole file. Objects are strict so unknown keys surface as issues;
 * `parseClusterConfig` turns those into warnings rather than errors.
 */
export const ClusterFileSchema = z.strictObject({
  cluster: ClusterConfigSchema
}, { error: 'expected a mapping with a top-level `cluster:` key' })

export type ClusterFile = z.output<typeof ClusterFileSchema>
export type ClusterConfig = z.output<typeof ClusterConfigSchema>
export type ClusterNode = z.output<typeof ClusterNodeSchema>
export type Tier = z.output<typeof TierSchema>

/** A node's `model` field, which the seed allows as one name or a list, as a list */
export function nodeModels (node: Pick<ClusterNode, 'model'>): string[] {
  return typeof node.model === 'string' ? [node.model] : [...node.model]
}

/** A node's `listen` field, one multiaddr or a list, as a list (undefined when absent) */
export function nodeListen (node: Pick<ClusterNode, 'listen'>): string[] | undefined {
  return node.listen == null ? undefined : typeof node.listen === 'string' ? [node.listen] : [...node.listen]
}

/** The peer's start options once CLI flags, env and the config file are merged */
export const PeerOptionsSchema = z.object({
  name: z.string(expected('a non-empty peer name')).min(1),
  tier: TierSchema.default(DEFAULT_TIER),
  // Absent: detect the LLM servers running here (or the cluster entry's backends); see cli/start-backends.ts.
  backend: BackendSchema.optional(),
  backendUrl: BackendUrlSchema.optional(),
  backendKey: z.string(expected('a non-empty string')).min(1).optional(),
  // Empty means every model the backend lists
  models: z.array(ModelNameSchema, expected('a list of model names')).default(() => []),
  modelFile: z.string(expected('a file path')).min(1).optional(),
  // Embedded: keep each sequence's tokens and reuse the longest matching prefix (issue 23)
  promptCache: BooleanSchema.default(true),
  apiHost: HostSchema.default(DEFAULT_API_HOST),
  // 0 asks the OS for any free port (tests, demo)
  apiPort: z.int(expected('an integer from 0 to 65535')).min(0).max(65535).default(DEFAULT_API_PORT),
  listen: z.array(MultiaddrSchema, expected('a list of multiaddrs')).default(() => [...DEFAULT_LISTEN]),
  bootstrap: z.array(MultiaddrSchema, expected('a list of multiaddrs')).default(() => []),
  mdns: BooleanSchema.default(true),
  meshKeyFile: z.string(expected('a file path')).min(1).optional(),
  token: TokenSchema.optional(),
  dataDir: z.string(expected('a directory path')).min(1),
  profile: z.enum(PROFILE_NAMES, expected('lan or test')).default(DEFAULT_PROFILE),
  logLevel: z.enum(LOG_LEVELS, expected(LOG_LEVELS.join(', '))).default(DEFAULT_LOG_LEVEL),
  jsonLogs: BooleanSchema.default(false),
  // Bounded: a stop must end; 0 ends in-flight work at once.
  drainTimeoutMs: z.int(expected('a whole number of milliseconds from 0 to 600000')).min(0).max(600_000).default(DEFAULT_DRAIN_TIMEOUT_MS),
  // Each handover costs a prompt evaluation of the whole answer so far on another peer; ten is plenty.
  maxHandovers: z.int(expected('a whole number from 0 to 10')).min(0).max(10).default(DEFAULT_MAX_HANDOVERS),
  // 0 = no cap beyond the backend's own context; the top is what the mesh protocol carries.
  maxTokensCap: z.int(expected(`a whole number of tokens from 0 to ${MAX_REQUEST_TOKENS} (0 = no cap)`)).min(0).max(MAX_REQUEST_TOKENS).default(DEFAULT_MAX_TOKENS_CAP),
  // 0 = none; at most a day, well inside what a timer holds (2^31 ms), and longer is as good as none.
  requestTimeoutMs: z.int(expected('a whole number of milliseconds from 0 to 86400000 (0 = none)')).min(0).max(86_400_000).default(DEFAULT_REQUEST_TIMEOUT_MS),
  // Model file sharing (issue 16). Absent models dir: <data-dir>/models.
  share: BooleanSchema.default(true),
  modelsDir: z.string(expected('a directory path')).min(1).optional(),
  shareDirs: z.array(z.string(expected('a directory path')).min(1), expected('a list of directories')).default(() => []),
  // true: Ollama's default store ($OLLAMA_MODELS or ~/.ollama/models); a string: that directory
  shareOllama: z.union([BooleanSchema, z.string().min(1)], expected('true or an Ollama models directory')).default(false),
  // Bytes per second over all uploads; absent = unlimited (a LAN is fast, inference traffic is small)
  shareRate: z.int(expected('a whole number of bytes per second, e.g. 50000000 or 50M')).min(1).optional(),
  shareUploads: z.int(expected('a whole number from 1 to 64')).min(1).max(64).default(4),
  // Issue 23: `announced` is the routing before it, kept for comparison (npm run bench:affinity).
  routePolicy: z.enum(ROUTE_POLICIES, expected(ROUTE_POLICIES.join(', '))).default(DEFAULT_ROUTE_POLICY)
})

export type PeerOptions = z.output<typeof PeerOptionsSchema>
/** What callers may pass: fields with a default are optional */
export type PeerOptionsInput = z.input<typeof PeerOptionsSchema>
