// Ollama reads a request body as JSON whatever its content-type says, and its documentation calls
// the API with `curl http://localhost:11434/api/chat -d '{…}'`, which sends
// application/x-www-form-urlencoded (or no content-type at all from other tools). Scripts written
// for Ollama do the same, and fastify would answer them 415. So the completion endpoints read
// every body as JSON: the header is set to JSON before fastify picks a parser, and fastify's own
// JSON parser (prototype-poisoning guard, body limit) reads it. A body that is not JSON stays a 400.
//
// A path with no route is a 404 whatever its body: fastify would read the body first and answer
// 400 (not JSON) or 415 (a content-type it cannot parse) instead (found by the HTTP fuzz suite).
import type { FastifyInstance } from 'fastify'

const JSON_TYPE = /^\s*application\/json\s*(;|$)/i

/** Makes `paths` (route patterns) parse any non-empty body as JSON, whatever its content-type; unrouted requests never have theirs read. */
export function readBodiesAsJson (app: FastifyInstance, paths: readonly string[]): void {
  const routes = new Set(paths)
  app.addHook('onRequest', async request => {
    const headers = request.raw.headers
    // Without a content-type and without a catch-all parser, fastify hands a 404 straight to its handler.
    if (request.is404) {
      delete headers['content-type']
      return
    }
    if (!routes.has(request.routeOptions.url ?? '')) return
    // No body: nothing to parse, whatever the header says; the route's validation answers 400 for the missing object.
    if (headers['transfer-encoding'] == null && (headers['content-length'] == null || headers['content-length'] === '0')) {
      delete headers['content-type']
      return
    }
    if (JSON_TYPE.test(headers['content-type'] ?? '')) return
    headers['content-type'] = 'application/json'
  })
}
