// Ollama reads a request body as JSON whatever its content-type says, and its documentation calls
// the API with `curl http://localhost:11434/api/chat -d '{…}'`, which sends
// application/x-www-form-urlencoded (or no content-type at all from other tools). Scripts written
// for Ollama do the same, and fastify would answer them 415. So the completion endpoints read
// every body as JSON: the header is set to JSON before fastify picks a parser, and fastify's own
// JSON parser (prototype-poisoning guard, body limit) reads it. A body that is not JSON stays a 400.
//
// A path with no route is a 404 whatever its body: fastify would read the body first and answer
// 400 (not JSON) or 415 (a content-type it cannot parse) instead (found by the HTTP fuzz suite).
import type { IncomingHttpHeaders } from 'node:http'
import type { FastifyInstance } from 'fastify'

const JSON_TYPE = /^\s*application\/json\s*(;|$)/i

/** Makes `paths` (route patterns) parse any non-empty body as JSON, whatever its content-type; unrouted requests never have theirs read. */
export function readBodiesAsJson (app: FastifyInstance, paths: readonly string[]): void {
  const routes = new Set(paths)
  // A callback hook, not an async one: it runs on every request, and an async hook costs a promise and a microtask turn each.
  app.addHook('onRequest', (request, _reply, done) => {
    asJson(request.raw.headers, request.is404, routes.has(request.routeOptions.url ?? ''))
    done()
  })
}

function asJson (headers: IncomingHttpHeaders, is404: boolean, routed: boolean): void {
  // Without a content-type and without a catch-all parser, fastify hands a 404 straight to its handler.
  if (is404) {
    delete headers['content-type']
    return
  }
  if (!routed) return
  // No body: nothing to parse, whatever the header says; the route's validation answers 400 for the missing object.
  if (headers['transfer-encoding'] == null && (headers['content-length'] == null || headers['content-length'] === '0')) {
    delete headers['content-type']
    return
  }
  if (JSON_TYPE.test(headers['content-type'] ?? '')) return
  headers['content-type'] = 'application/json'
}
