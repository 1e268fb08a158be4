// Ollama reads a request body as JSON whatever its content-type says, and its documentation calls
// the API with `curl http://localhost:11434/api/chat -d '{…}'`, which sends
// application/x-www-form-urlencoded (or no content-type at all from other tools). Scripts written
// for Ollama do the same, and fastify would answer them 415. So the completion endpoints read
// every body as JSON: the header is set to JSON before fastify picks a parser, and fastify's own
// JSON parser (prototype-poisoning guard, body limit) reads it. A body that is not JSON stays a 400.
import type { FastifyInstance } from 'fastify'

const JSON_TYPE = /^\s*application\/json\s*(;|$)/i

/** Makes `paths` (route patterns) parse any non-empty body as JSON, whatever its content-type. */
export function readBodiesAsJson (app: FastifyInstance, paths: readonly string[]): void {
  const routes = new Set(paths)
  app.addHook('onRequest', async request => {
    if (!routes.has(request.routeOptions.url ?? '')) return
    const headers = request.raw.headers
    // No body: nothing to parse; the route's validation answers 400 for the missing object.
    if (headers['transfer-encoding'] == null && (headers['content-length'] == null || headers['content-length'] === '0')) return
    if (JSON_TYPE.test(headers['content-type'] ?? '')) return
    headers['content-type'] = 'application/json'
  })
}
