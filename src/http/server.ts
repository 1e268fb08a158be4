import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify'
import type { Logger } from '../log.js'
import { registerClusterRoutes, type ClusterSource } from './cluster-routes.js'
import type { CompletionService } from '../completion/service.js'
import { openAIError, registerOpenAIRoutes } from './openai-routes.js'
import { ollamaError, registerOllamaRoutes } from './ollama-routes.js'
import { harombeError, registerHarombeRoutes } from './harombe-routes.js'
import { registerMetrics, type TimeoutCounts } from './metrics.js'
import { readBodiesAsJson } from './json-body.js'
import { answerClientError, lingerOnRefusedBody } from './client-errors.js'
import { registerDashboard } from './dashboard.js'
import { bearerTokenCheck } from './auth.js'
import { registerRequestsRoutes } from './requests-routes.js'
import { registerModelsRoutes } from './models-routes.js'
import { lazySchemaCompilers } from './schema-compilers.js'
import type { ModelSharing } from '../sharing/service.js'
import { createRequestLog } from '../completion/request-log.js'
import type { BreakerState } from '../routing/breaker.js'
import type { GossipCounts } from '../membership/service.js'
import type { EmbeddingService } from '../embeddings/service.js'
import { EMBEDDING_PATHS, registerEmbeddingRoutes } from './embeddings-routes.js'
import { registerTextCompletionRoutes } from './text-completions-routes.js'
import { registerModelDetailsRoutes } from './model-details-routes.js'
import type { ModelInfoService } from '../model-info/service.js'
import type { BoundedRegistry } from '../util/bounded-registry.js'

export interface HttpServerInit {
  host: string
  port: number
  /** Bearer token required on every endpoint except the health probes. */
  token?: string
  cluster: ClusterSource
  /** Open mesh connections, for /metrics. */
  meshConnections?: () => number
  /** Open mesh streams over all connections, for /metrics. */
  meshStreams?: () => number
  /** Circuit breakers and gossip counts, for /metrics. */
  breakers?: () => ReadonlyMap<string, BreakerState>
  gossip?: () => GossipCounts | undefined
  /** Completions ended by the request timeout, for /metrics. */
  timeouts?: () => TimeoutCounts
  /** The peer's bounded structures and their sizes, for /metrics (issue 25). */
  bounded?: BoundedRegistry
  /** Completion endpoints (OpenAI, Ollama, /api/complete); absent = cluster API only. */
  completions?: CompletionService
  /** Embedding endpoints (OpenAI /v1/embeddings, Ollama /api/embed and /api/embeddings); absent = none. */
  embeddings?: EmbeddingService
  /** Model details and running models (/api/show, /api/ps); absent = none. */
  modelInfo?: ModelInfoService
  /** Model file sharing (issue 16): /api/models/files, /holders, /pull, /pulls. */
  sharing?: () => ModelSharing | undefined
  logger: Logger
  /** Request body limit; larger bodies get 413 before they are read. */
  bodyLimitBytes?: number
}

export interface HttpServer {
  /** Starts listening; resolves with the base URL (`http://127.0.0.1:<port>`). */
  start: () => Promise<string>
  stop: () => Promise<void>
  url: () => string
}

export class ListenError extends Error {
  static name = 'ListenError'
  name = ListenError.name
}

/**
 * Probes stay open without a token: orchestrators and load balancers do not carry one. The
 * dashboard page is static; the data it fetches needs the token like any other call.
 */
const OPEN_PATHS = new Set(['/healthz', '/readyz', '/'])

/** Endpoints that read a JSON body whatever the content-type says, as Ollama does (json-body.ts). */
const COMPLETION_PATHS = ['/v1/chat/completions', '/v1/completions', '/api/chat', '/api/generate', '/api/complete']

/**
 * Ollama's endpoints, served or not: an Ollama client calling one a peer lacks (`ollama pull`,
 * `/api/show`) gets its 404 in Ollama's format and shows the message.
 */
const OLLAMA_PATHS = new Set(['/api/chat', '/api/generate', '/api/tags', '/api/version', '/api/show', '/api/ps', '/api/pull', '/api/push', '/api/create', '/api/copy', '/api/delete', '/api/embed', '/api/embeddings'])

/** Each API answers errors in its own format, so clients show the message instead of a parse error. */
function errorFor (url: string, status: number, message: string, code?: string): unknown {
  const path = url.split('?')[0] ?? ''
  if (path.startsWith('/v1/')) return openAIError(status, message, code)
  if (OLLAMA_PATHS.has(path)) return ollamaError(status, message)
  return harombeError(status, message, code)
}

export function createHttpServer (init: HttpServerInit): HttpServer {
  const app: FastifyInstance = Fastify({
    logger: false,
    // Our routes declare no schemas: ajv and fast-json-stringify load only if one ever does.
    schemaController: lazySchemaCompilers,
    bodyLimit: init.bodyLimitBytes ?? 4 * 1024 * 1024,
    // SSE streams stay open for hours; only idle keep-alive sockets are timed out.
    keepAliveTimeout: 65_000,
    forceCloseConnections: true,
    // Requests the HTTP parser cannot read: answered, then a lingering close (client-errors.ts).
    clientErrorHandler: answerClientError,
    // A path with a broken %-escape never reaches a route or the error handler: answer it in the API's format too.
    frameworkErrors: (err, request, reply) => {
      void (reply as FastifyReply).code(400).send(errorFor(request.url, 400, err.message, 'bad_request'))
    }
  })
  let baseUrl = ''

  if (init.token != null && init.token !== '') {
    const authorized = bearerTokenCheck(init.token)
    app.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
      if (OPEN_PATHS.has(request.url.split('?')[0] ?? '')) return
      if (!authorized(request.headers.authorization)) {
        await reply.code(401).header('www-authenticate', 'Bearer').send(errorFor(request.url, 401, 'missing or wrong bearer token', 'unauthorized'))
      }
    })
  }

  app.get('/healthz', async () => ({ status: 'ok' }))
  registerClusterRoutes(app, init.cluster, {
    onSubscribers: (size, limit) => { init.bounded?.register({ name: 'http.event-subscribers', limit, size }) }
  })
  // One journal feeds both /metrics and /api/requests, so the two never disagree.
  const requestLog = createRequestLog()
  const kept = requestLog.kept()
  init.bounded?.register({ name: 'completion.request-log', limit: kept.limit, size: () => requestLog.kept().size })
  registerMetrics(app, { cluster: init.cluster.snapshot, meshConnections: init.meshConnections ?? (() => 0), meshStreams: init.meshStreams, requests: requestLog, breakers: init.breakers, gossip: init.gossip, timeouts: init.timeouts, bounded: init.bounded })
  registerDashboard(app)
  if (init.sharing != null) registerModelsRoutes(app, init.sharing)
  // Before any route reads a body: completion bodies are JSON whatever their content-type, and a 404 reads none.
  readBodiesAsJson(app, [...(init.completions != null ? COMPLETION_PATHS : []), ...(init.embeddings != null ? EMBEDDING_PATHS : []), ...(init.modelInfo != null ? ['/api/show'] : [])])
  if (init.completions != null) {
    registerOpenAIRoutes(app, requestLog.wrap(init.completions, 'openai'))
    registerTextCompletionRoutes(app, requestLog.wrap(init.completions, 'openai'))
    registerOllamaRoutes(app, requestLog.wrap(init.completions, 'ollama'))
    registerHarombeRoutes(app, requestLog.wrap(init.completions, 'harombe'))
    registerRequestsRoutes(app, requestLog)
  }
  if (init.embeddings != null) registerEmbeddingRoutes(app, init.embeddings, requestLog)
  if (init.modelInfo != null) registerModelDetailsRoutes(app, init.completions, init.modelInfo)

  app.setNotFoundHandler(async (request, reply) => {
    await reply.code(404).send(errorFor(request.url, 404, `no route ${request.method} ${request.url}`, 'not_found'))
  })
  // Fastify's own rejections (malformed JSON → 400, body over the limit → 413) in each API's format.
  app.setErrorHandler(async (err: any, request, reply) => {
    const status = typeof err.statusCode === 'number' ? err.statusCode : 500
    if (status >= 500) init.logger.error({ err }, 'request failed')
    const message = status === 413 ? `request body is larger than ${app.initialConfig.bodyLimit} bytes` : err.message
    const code = status === 413 ? 'body_too_large' : status === 400 ? 'bad_request' : undefined
    if (status === 413) lingerOnRefusedBody(request.raw, reply)
    await reply.code(status).send(errorFor(request.url, status, message, code))
  })

  return {
    async start () {
      try {
        await app.listen({ host: init.host, port: init.port })
      } catch (err: any) {
        const reason = err?.code === 'EADDRINUSE' ? 'address already in use' : (err?.message ?? String(err))
        throw new ListenError(`cannot serve the API on ${init.host}:${init.port}: ${reason}`)
      }
      const address = app.server.address()
      const port = typeof address === 'object' && address != null ? address.port : init.port
      const host = init.host.includes(':') ? `[${init.host}]` : init.host
      baseUrl = `http://${host}:${port}`
      return baseUrl
    },
    async stop () {
      await app.close()
    },
    url: () => baseUrl
  }
}
