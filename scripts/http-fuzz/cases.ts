// Random and mutated HTTP requests for the fuzz suite: every route (and paths that are none), every
// method Node's parser knows and some it does not, content types that lie, tokens that are wrong,
// header blocks around the 16 KiB limit, query strings, and bodies that are valid, nearly valid,
// mutated text, random JSON or random bytes — now and then over the body limit.
import fc from 'fast-check'
import { MAX_REQUEST_TOKENS } from '../../src/completion/token-budget.js'
import { mutatedText, nearMiss, shallowJson } from '../../test/helpers/fuzz.js'
import { MAX_HEADER_BYTES, OLLAMA_UNSERVED, ROUTES, type Route } from './contract.js'

/** Long values are kept as their length (padding, spaces), so a failing case prints short. */
export interface HttpCase {
  method: string
  path: string
  /** '' or `?…`, as sent (before `queryPadding`). */
  query: string
  /** `q=aaa…` of this many `a`s appended to the query string. */
  queryPadding?: number
  headers: Array<[string, string]>
  /** An `x-padding` header of this many characters. */
  padding?: number
  body?: Uint8Array | { spaces: number }
}

/** The request as sent: target (path and query), headers and body bytes. */
export function materialize (c: HttpCase): { target: string, headers: Array<[string, string]>, body?: Buffer } {
  const query = c.queryPadding == null ? c.query : `${c.query === '' ? '?' : `${c.query}&`}q=${'a'.repeat(c.queryPadding)}`
  const headers = c.padding == null ? c.headers : [...c.headers, ['x-padding', 'p'.repeat(c.padding)] as [string, string]]
  const body = c.body == null ? undefined : c.body instanceof Uint8Array ? Buffer.from(c.body) : Buffer.alloc(c.body.spaces, 0x20)
  return { target: c.path + query, headers, ...(body != null ? { body } : {}) }
}

export interface CaseOptions {
  /** The peer's bearer token. */
  token: string
  /** A model the peer serves. */
  model: string
  /** The peer's body limit: some bodies go just over it. */
  bodyLimit: number
}

const encoder = new TextEncoder()

// ---- bodies: each API's request, valid (the near misses and mutations below bend them) ----

const text = fc.string({ maxLength: 40, unit: 'binary' })
const role = fc.constantFrom('system', 'user', 'assistant')
/** Small counts most of the time; the cap's case (10^9, answered up to the serving peer's cap) now and then. */
const tokens = fc.oneof(
  { weight: 12, arbitrary: fc.integer({ min: 1, max: 48 }) },
  { weight: 1, arbitrary: fc.constantFrom(1e9, MAX_REQUEST_TOKENS + 1, 8_192) }
)
/** The served model most of the time; `auto` and one no peer serves (404) now and then. */
const modelOf = (model: string, ...others: string[]): fc.Arbitrary<string> => fc.oneof({ weight: 6, arbitrary: fc.constant(model) }, { weight: 1, arbitrary: fc.constantFrom(...others) })
const tool = fc.record({ type: fc.constant('function'), function: fc.record({ name: fc.string({ minLength: 1, maxLength: 8 }), description: text, parameters: fc.constant({ type: 'object', properties: {} }) }, { requiredKeys: ['name'] }) })

function openAIBody (model: string): fc.Arbitrary<Record<string, unknown>> {
  return fc.record({
    model: modelOf(model, 'auto', 'no-such-model'),
    messages: fc.array(fc.record({ role: fc.constantFrom('system', 'developer', 'user', 'assistant'), content: fc.option(text, { nil: null }) }), { minLength: 1, maxLength: 3 }),
    max_tokens: tokens,
    temperature: fc.constantFrom(0, 0.7, 2),
    stream: fc.boolean(),
    stream_options: fc.record({ include_usage: fc.boolean() }),
    stop: fc.oneof(fc.string({ maxLength: 3 }), fc.array(fc.string({ minLength: 1, maxLength: 3 }), { maxLength: 3 })),
    tools: fc.array(tool, { maxLength: 2 }),
    tier: fc.constantFrom(0, 1, 2)
  }, { requiredKeys: ['messages'] })
}

function ollamaOptions (): fc.Arbitrary<Record<string, unknown>> {
  // num_predict -1 and -2 are Ollama's "no limit": the serving peer's cap applies.
  return fc.record({ num_predict: fc.oneof(tokens, fc.constantFrom(-1, -2)), temperature: fc.constantFrom(0, 1, 2), stop: fc.array(fc.string({ maxLength: 3 }), { maxLength: 2 }), seed: fc.integer() }, { requiredKeys: [] })
}

function ollamaChatBody (model: string): fc.Arbitrary<Record<string, unknown>> {
  return fc.record({
    model: modelOf(model, 'no-such-model'),
    // Empty: Ollama's "load the model" request.
    messages: fc.array(fc.record({ role, content: text }), { maxLength: 3 }),
    stream: fc.boolean(),
    options: ollamaOptions(),
    tools: fc.array(tool, { maxLength: 1 })
  }, { requiredKeys: ['model'] })
}

function ollamaGenerateBody (model: string): fc.Arbitrary<Record<string, unknown>> {
  return fc.record({
    model: modelOf(model, 'no-such-model'),
    prompt: text,
    system: text,
    stream: fc.boolean(),
    options: ollamaOptions()
  }, { requiredKeys: ['model'] })
}

function harombeBody (model: string): fc.Arbitrary<Record<string, unknown>> {
  return fc.record({
    messages: fc.array(fc.record({ role, content: text }), { minLength: 1, maxLength: 3 }),
    max_tokens: tokens,
    model: modelOf(model, 'auto', 'no-such-model'),
    stream: fc.boolean(),
    tier: fc.constantFrom(0, 1, 2),
    // Pinned to this peer, or to one not in the view (503).
    peer: modelOf('synthetic-peer', 'nobody')
  }, { requiredKeys: ['messages'] })
}

/** A valid-looking body for `path`: the API's own request for completion routes, a small object elsewhere. */
function validBody (path: string, model: string): fc.Arbitrary<Record<string, unknown>> {
  switch (path) {
    case '/v1/chat/completions': return openAIBody(model)
    case '/api/chat': return ollamaChatBody(model)
    case '/api/generate': return ollamaGenerateBody(model)
    case '/api/complete': return harombeBody(model)
    default: return fc.record({ model: fc.constant(model) })
  }
}

/** Characters JSON is made of, so random text gets past JSON.parse now and then. */
const jsonish = fc.string({ maxLength: 200, unit: fc.constantFrom(...'{}[]",:0123456789-+.eE \n\\utruefalsnmodelmessagesrolecontent'.split('')) })
const TEXT_TOKENS = ['{', '}', '[', ']', '"', ',', ':', 'null', '1e999', '\\u0000', '-1', '"stream":true', '"__proto__":{}', '\u00e9']

function body (path: string, options: CaseOptions): fc.Arbitrary<Uint8Array | { spaces: number } | undefined> {
  const valid = validBody(path, options.model)
  return fc.oneof(
    { weight: 60, arbitrary: fc.constant(undefined) },
    { weight: 160, arbitrary: valid.map(v => encoder.encode(JSON.stringify(v))) },
    { weight: 60, arbitrary: nearMiss(valid, shallowJson()).map(v => encoder.encode(JSON.stringify(v))) },
    { weight: 60, arbitrary: mutatedText(valid.map(v => JSON.stringify(v, null, 1)), TEXT_TOKENS, 4).map(s => encoder.encode(s)) },
    { weight: 20, arbitrary: shallowJson().map(v => encoder.encode(JSON.stringify(v) ?? '')) },
    { weight: 20, arbitrary: jsonish.map(s => encoder.encode(s)) },
    { weight: 20, arbitrary: fc.uint8Array({ maxLength: 300 }) },
    // Just over the limit (one case in 400): 413 before the body is read.
    { weight: 1, arbitrary: fc.constant({ spaces: options.bodyLimit + 1 }) }
  )
}

// ---- the request line ----

/** Methods Node's parser knows (fastify routes some), one it knows but nothing serves, and ones it does not know (400 at the parser). */
const otherMethod = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS') },
  { weight: 2, arbitrary: fc.constantFrom('PROPFIND', 'PURGE', 'SEARCH', 'REPORT', 'MKCOL', 'LOCK', 'TRACE', 'QUERY') },
  { weight: 1, arbitrary: fc.constantFrom('FOO', 'GETS', 'BREW', 'X-CUSTOM') }
)

const segment = fc.string({ minLength: 1, maxLength: 10, unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789-_.~%:@!$&\'()*+,;='.split('')) })
const path = (route: Route): fc.Arbitrary<string> => fc.oneof(
  { weight: 12, arbitrary: fc.constant(route.path) },
  { weight: 1, arbitrary: fc.constantFrom(`${route.path}/`, route.path.toUpperCase(), `/${route.path}`, `${route.path}/..`, `${route.path}%00`) },
  { weight: 1, arbitrary: segment.map(s => `${route.path}/${s}`) },
  { weight: 1, arbitrary: fc.constantFrom(...OLLAMA_UNSERVED) },
  { weight: 1, arbitrary: fc.array(segment, { minLength: 1, maxLength: 4 }).map(s => `/${s.join('/')}`) }
)

const queryValue = fc.oneof(fc.constantFrom('5', '0', '-1', '1e9', 'abc', '', '%zz', '%00'), segment)
const query = fc.oneof(
  { weight: 8, arbitrary: fc.constant('') },
  { weight: 3, arbitrary: fc.array(fc.tuple(fc.constantFrom('limit', 'model', 'stream', 'a', 'x[]', '__proto__'), queryValue), { minLength: 1, maxLength: 4 }).map(kv => `?${kv.map(([k, v]) => `${k}=${v}`).join('&')}`) }
)
/** Now and then (one case in 12), long enough to reach the header limit: the request line counts. */
const queryPadding = fc.oneof({ weight: 11, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.integer({ min: 1_000, max: MAX_HEADER_BYTES + 4_000 }) })

// ---- headers ----

const CONTENT_TYPES = [
  'application/json', 'application/json; charset=utf-8', 'application/x-www-form-urlencoded', 'text/plain', 'text/plain;charset=UTF-8',
  'multipart/form-data; boundary=x', 'application/octet-stream', 'application/xml', 'nonsense', '', 'application/json; charset=latin1', 'APPLICATION/JSON'
]
const headerName = fc.string({ minLength: 1, maxLength: 12, unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789-'.split('')) }).map(n => `x-${n}`)
/** Visible ASCII and spaces: what Node's client lets through in a header value. */
const headerValue = (maxLength: number): fc.Arbitrary<string> => fc.string({ maxLength, unit: fc.integer({ min: 0x20, max: 0x7e }).map(c => String.fromCharCode(c)) })

function headers (token: string): fc.Arbitrary<Array<[string, string]>> {
  return fc.tuple(
    fc.oneof(
      { weight: 12, arbitrary: fc.constant(`Bearer ${token}`) },
      { weight: 1, arbitrary: fc.constantFrom(undefined, 'Bearer wrong', `bearer ${token}`, `Basic ${token}`, 'Bearer', `Bearer ${token}x`) }
    ),
    // fc.option's freq is the odds of none: content-type absent one case in 3, a tier header present one in 6.
    fc.option(fc.constantFrom(...CONTENT_TYPES), { freq: 3 }),
    fc.oneof({ weight: 5, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.constantFrom('0', '1', '2', '3', 'x') }),
    fc.array(fc.tuple(headerName, headerValue(40)), { maxLength: 3 })
  ).map(([authorization, contentType, tier, extra]) => {
    const out: Array<[string, string]> = []
    if (authorization != null) out.push(['authorization', authorization])
    if (contentType != null) out.push(['content-type', contentType])
    if (tier != null) out.push(['x-harombe-tier', tier])
    out.push(...extra)
    return out
  })
}

/** The header block around Node's 16 KiB limit, now and then (one case in 12). */
const padding = fc.oneof({ weight: 11, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.integer({ min: 1_000, max: MAX_HEADER_BYTES + 8_000 }) })

/** One request to a peer with `options`: aimed at a route, then bent. */
export function httpCase (options: CaseOptions): fc.Arbitrary<HttpCase> {
  return fc.constantFrom(...ROUTES).chain(route => fc.record({
    method: fc.oneof({ weight: 8, arbitrary: fc.constant(route.method as string) }, { weight: 2, arbitrary: otherMethod }),
    path: path(route),
    query,
    queryPadding,
    headers: headers(options.token),
    padding,
    body: body(route.path, options)
  }).map(c => {
    const out: HttpCase = { method: c.method, path: c.path, query: c.query, headers: c.headers }
    if (c.queryPadding != null) out.queryPadding = c.queryPadding
    if (c.padding != null) out.padding = c.padding
    // GET and HEAD carry a body only now and then (a short one): most clients never send one.
    if (c.body != null && !((c.method === 'GET' || c.method === 'HEAD') && !(c.body instanceof Uint8Array && c.body.byteLength <= 64))) out.body = c.body
    return out
  }))
}

/** A case for a failure message: long values cut short. */
export function describeCase (c: HttpCase): string {
  const sent = materialize(c)
  const cut = (s: string): string => s.length > 120 ? `${s.slice(0, 120)}…(${s.length} chars)` : s
  const headersText = sent.headers.map(([k, v]) => `${k}: ${cut(v)}`).join(' | ')
  const bodyText = sent.body == null ? 'no body' : `body ${sent.body.byteLength} bytes: ${cut(sent.body.toString('utf8'))}`
  return `${c.method} ${cut(sent.target)} [${headersText}] ${bodyText}`
}
