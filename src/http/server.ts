import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify'
import type { Logger } from '../log.js'
import { registerClusterRoutes, type ClusterSource } from './cluster-routes.js'

export interface HttpServerInit {
  host: string
  port: number
  /** Bearer token required on every endpoint except the health probes. */
  token?: string
  cluster: ClusterSource
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

/** Probes stay open without a token: orchestrators and load balancers do not carry one. */
const OPEN_PATHS = new Set(['/healthz', '/readyz'])

export function createHttpServer (init: HttpServerInit): HttpServer {
  const app: FastifyInstance = Fastify({
    logger: false,
    bodyLimit: init.bodyLimitBytes ?? 4 * 1024 * 1024,
    // SSE streams stay open for hours; only idle keep-alive sockets are timed out.
    keepAliveTimeout: 65_000,
    forceCloseConnections: true
  })
  let baseUrl = ''

  if (init.token != null && init.token !== '') {
    const expected = `Bearer ${init.token}`
    app.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
      if (OPEN_PATHS.has(request.url.split('?')[0] ?? '')) return
      if (request.headers.authorization !== expected) {
        await reply.code(401).header('www-authenticate', 'Bearer').send({ error: 'missing or wrong bearer token' })
      }
    })
  }

  app.get('/healthz', async () => ({ status: 'ok' }))
  registerClusterRoutes(app, init.cluster)

  app.setNotFoundHandler(async (request, reply) => {
    await reply.code(404).send({ error: `no route ${request.method} ${request.url}` })
  })
  app.setErrorHandler(async (err: any, _request, reply) => {
    const status = typeof err.statusCode === 'number' ? err.statusCode : 500
    if (status >= 500) init.logger.error({ err }, 'request failed')
    await reply.code(status).send({ error: err.message })
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
