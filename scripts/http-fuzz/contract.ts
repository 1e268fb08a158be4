// The HTTP API's documented contract, as the fuzz suite checks it (issue 17): for any request,
// which statuses a peer may answer and in which shape. Written from the documentation (README
// "HTTP API", DESIGN "HTTP API"), not derived from the server's code, so a server change that
// breaks the contract fails the fuzz run instead of moving the oracle with it.
//
//   route answers     the route's own statuses, or 401 (no or wrong token), 404 (no such route or
//                     method), 413 (body over the limit) — errors in the route's API format:
//                       OpenAI  (/v1/…)                    {"error": {"message", "type", …}}
//                       Ollama  (/api/chat, generate, tags, version, show, ps, embed, embeddings)  {"error": "…"}
//                       harombe (everything else)          {"error": {"code", "message"}}
//   transport answers a request Node's HTTP parser cannot read reaches no route: 400 (a method
//                     the parser does not know, a malformed request line) or 431 (request line and
//                     headers over 16 KiB), with fastify's body {"error", "message", "statusCode"}.
import { METHODS } from 'node:http'

export type Dialect = 'openai' | 'ollama' | 'harombe'
/** What a successful answer's body is. */
export type BodyKind = 'json' | 'completion' | 'event-stream' | 'text' | 'html'

export interface Route {
  method: 'GET' | 'POST'
  path: string
  dialect: Dialect
  body: BodyKind
  /** Statuses this route answers besides 401, 404 and 413 (which any route may). */
  statuses: readonly number[]
  /** Reachable without the bearer token (probes, the dashboard page). */
  open?: boolean
}

/**
 * What a completion endpoint may answer: 200, 400 (bad request), 404 (unknown model), 429 (busy),
 * 502 (backend failed), 503 (no peer can serve), 504 (timeout). Streams answer 200 and may end
 * with an error event instead.
 */
const COMPLETION_STATUSES = [200, 400, 404, 429, 502, 503, 504] as const

export const ROUTES: readonly Route[] = [
  { method: 'GET', path: '/healthz', dialect: 'harombe', body: 'json', statuses: [200], open: true },
  { method: 'GET', path: '/readyz', dialect: 'harombe', body: 'json', statuses: [200, 503], open: true },
  { method: 'GET', path: '/', dialect: 'harombe', body: 'html', statuses: [200], open: true },
  { method: 'GET', path: '/metrics', dialect: 'harombe', body: 'text', statuses: [200] },
  { method: 'GET', path: '/api/cluster', dialect: 'harombe', body: 'json', statuses: [200] },
  { method: 'GET', path: '/api/cluster/events', dialect: 'harombe', body: 'event-stream', statuses: [200] },
  { method: 'GET', path: '/api/requests', dialect: 'harombe', body: 'json', statuses: [200, 400] },
  { method: 'GET', path: '/api/models', dialect: 'harombe', body: 'json', statuses: [200] },
  { method: 'POST', path: '/api/complete', dialect: 'harombe', body: 'completion', statuses: COMPLETION_STATUSES },
  { method: 'GET', path: '/v1/models', dialect: 'openai', body: 'json', statuses: [200] },
  { method: 'POST', path: '/v1/chat/completions', dialect: 'openai', body: 'completion', statuses: COMPLETION_STATUSES },
  { method: 'POST', path: '/api/chat', dialect: 'ollama', body: 'completion', statuses: COMPLETION_STATUSES },
  { method: 'POST', path: '/api/generate', dialect: 'ollama', body: 'completion', statuses: COMPLETION_STATUSES },
  { method: 'GET', path: '/api/tags', dialect: 'ollama', body: 'json', statuses: [200] },
  { method: 'GET', path: '/api/version', dialect: 'ollama', body: 'json', statuses: [200] },
  // Issue 29 (README "HTTP API" and "Embeddings and retrieval")
  { method: 'POST', path: '/v1/completions', dialect: 'openai', body: 'completion', statuses: COMPLETION_STATUSES },
  { method: 'POST', path: '/v1/embeddings', dialect: 'openai', body: 'json', statuses: COMPLETION_STATUSES },
  { method: 'POST', path: '/api/embed', dialect: 'ollama', body: 'json', statuses: COMPLETION_STATUSES },
  { method: 'POST', path: '/api/embeddings', dialect: 'ollama', body: 'json', statuses: COMPLETION_STATUSES },
  { method: 'POST', path: '/api/show', dialect: 'ollama', body: 'json', statuses: COMPLETION_STATUSES },
  { method: 'GET', path: '/api/ps', dialect: 'ollama', body: 'json', statuses: [200] }
]

/** Ollama endpoints a peer does not serve: their 404 is still in Ollama's format, so Ollama clients show it. */
export const OLLAMA_UNSERVED = ['/api/pull', '/api/push', '/api/create', '/api/copy', '/api/delete'] as const
const OLLAMA_PATHS = new Set([...ROUTES.filter(r => r.dialect === 'ollama').map(r => r.path), ...OLLAMA_UNSERVED])

/** The API format of errors on `path` (without the query string). */
export function dialectOf (path: string): Dialect {
  if (path.startsWith('/v1/')) return 'openai'
  return OLLAMA_PATHS.has(path) ? 'ollama' : 'harombe'
}

/** Node's parser refuses a request line and headers above this (its --max-http-header-size default). */
export const MAX_HEADER_BYTES = 16 * 1024

export interface CaseShape {
  method: string
  /** Path without the query string. */
  path: string
  /** Bytes of the request line and header block as sent. */
  headerBytes: number
  /** The bearer token matched the peer's. */
  authorized: boolean
  /** Body bytes sent. */
  bodyBytes: number
}

export interface Answer {
  status: number
  contentType: string
  body: string
}

/** Which answer class a request gets, and the statuses documented for it. */
export function expectedStatuses (c: CaseShape, bodyLimit: number): { kind: 'transport' | 'route', statuses: Set<number> } {
  // Near the limit the exact count depends on what the client adds (Host, Connection): either is right.
  const margin = 512
  // The parser reads the method first: an unknown one is refused before the headers are counted.
  if (!METHODS.includes(c.method)) return { kind: 'transport', statuses: new Set([400]) }
  if (c.headerBytes > MAX_HEADER_BYTES + margin) return { kind: 'transport', statuses: new Set([431]) }
  const statuses = new Set<number>([404])
  if (c.headerBytes > MAX_HEADER_BYTES - margin) statuses.add(431)
  // A broken %-escape in the path: 400 before routing (and before the token is checked).
  if (!decodes(c.path)) return { kind: 'route', statuses: new Set([400, ...statuses].filter(s => s !== 404)) }
  if (c.bodyBytes > bodyLimit) statuses.add(413)
  // RFC 10008: a QUERY request must say what its body is; fastify refuses one that does not (or has no route to say it to).
  if (c.method === 'QUERY') statuses.add(400)
  const route = ROUTES.find(r => r.path === c.path && (r.method === c.method || (r.method === 'GET' && c.method === 'HEAD')))
  if (!(route?.open === true) && !c.authorized) statuses.add(401)
  for (const s of route?.statuses ?? []) statuses.add(s)
  return { kind: 'route', statuses }
}

function decodes (path: string): boolean {
  try {
    decodeURIComponent(path)
    return true
  } catch {
    return false
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v != null && !Array.isArray(v)

/** Why `value` is not an error body in `dialect`'s format, or undefined when it is. */
export function errorShapeProblem (dialect: Dialect, value: unknown): string | undefined {
  if (!isObject(value)) return 'not a JSON object'
  const e = value.error
  if (dialect === 'ollama') return typeof e === 'string' ? undefined : 'Ollama errors are {"error": "<message>"}'
  if (!isObject(e) || typeof e.message !== 'string') return `${dialect} errors are {"error": {"message": …}}`
  if (dialect === 'openai' && typeof e.type !== 'string') return 'OpenAI errors carry error.type'
  if (dialect === 'harombe' && typeof e.code !== 'string') return 'harombe errors carry error.code'
  return undefined
}

function parseJson (text: string): { ok: true, value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(text) }
  } catch {
    return { ok: false }
  }
}

/** A completion's 200 body: one JSON answer, NDJSON lines, or OpenAI's SSE; an error may end a stream. */
function completionProblem (dialect: Dialect, answer: Answer): string | undefined {
  const type = answer.contentType
  if (type.includes('application/json')) return parseJson(answer.body).ok ? undefined : 'a whole answer that is not JSON'
  if (dialect === 'openai' && type.includes('text/event-stream')) {
    const events = answer.body.split('\n\n').filter(e => e !== '')
    if (events.at(-1) !== 'data: [DONE]' && !/^data: \{"error"/.test(events.at(-1) ?? '')) return 'an SSE stream that ends without [DONE] or an error event'
    for (const event of events) {
      if (event === 'data: [DONE]') continue
      if (!event.startsWith('data: ')) return `an SSE event that is not data: ${event.slice(0, 80)}`
      const parsed = parseJson(event.slice(6))
      if (!parsed.ok) return `an SSE event that is not JSON: ${event.slice(0, 80)}`
      if (isObject(parsed.value) && 'error' in parsed.value) return errorShapeProblem('openai', parsed.value)
    }
    return undefined
  }
  if (dialect !== 'openai' && type.includes('application/x-ndjson')) {
    const lines = answer.body.split('\n')
    if (lines.at(-1) !== '') return 'NDJSON that does not end with a newline (cut short)'
    for (const line of lines.slice(0, -1)) {
      const parsed = parseJson(line)
      if (!parsed.ok || !isObject(parsed.value)) return `an NDJSON line that is not a JSON object: ${line.slice(0, 80)}`
      if ('error' in parsed.value) return errorShapeProblem(dialect, parsed.value)
    }
    const last = parseJson(lines.at(-2) ?? '')
    const final = last.ok && isObject(last.value) && (last.value.done === true || last.value.type === 'done' || 'error' in last.value)
    return final ? undefined : 'a stream that ends without its final line'
  }
  return `a completion answered as ${type || 'no content-type'}`
}

/**
 * Why an answer breaks the contract, or undefined when it keeps it. `head`: the request was HEAD
 * (no body); `bodyComplete`: false when an endless stream (cluster events) was cut after its first event.
 */
export function answerProblem (c: CaseShape, answer: Answer, bodyLimit: number, head: boolean): string | undefined {
  const expected = expectedStatuses(c, bodyLimit)
  if (!expected.statuses.has(answer.status)) return `status ${answer.status}, documented: ${[...expected.statuses].sort().join(', ')}`
  if (head) return answer.body === '' ? undefined : 'a HEAD answer with a body'
  // 431 comes from the parser even where a route would have answered (a header block near the limit).
  if (expected.kind === 'transport' || answer.status === 431) {
    const parsed = parseJson(answer.body)
    return parsed.ok && isObject(parsed.value) && parsed.value.statusCode === answer.status ? undefined : `transport error body: ${answer.body.slice(0, 120)}`
  }
  if (answer.status >= 400) {
    const parsed = parseJson(answer.body)
    if (!parsed.ok) return `an error body that is not JSON: ${answer.body.slice(0, 120)}`
    const problem = errorShapeProblem(dialectOf(c.path), parsed.value)
    return problem != null ? `${problem}: ${answer.body.slice(0, 160)}` : undefined
  }
  const route = ROUTES.find(r => r.path === c.path)
  switch (route?.body) {
    case 'json': return parseJson(answer.body).ok ? undefined : `a JSON route answered: ${answer.body.slice(0, 120)}`
    case 'completion': return completionProblem(route.dialect, answer)
    case 'event-stream': return answer.contentType.includes('text/event-stream') && answer.body.startsWith('event: snapshot\n') ? undefined : 'an event stream that does not start with the snapshot'
    case 'text':
    case 'html': return answer.body.length > 0 ? undefined : 'an empty page'
    default: return `status ${answer.status} on a path with no route`
  }
}
