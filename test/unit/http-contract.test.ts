import assert from 'node:assert/strict'
import { answerProblem, dialectOf, type Answer, type CaseShape } from '../../scripts/http-fuzz/contract.js'

// The HTTP fuzz suite's oracle (scripts/http-fuzz/contract.ts): a table of answers it must accept
// and answers it must refuse, so a fuzz run that passes means the peer kept the contract, not that
// the judge waves everything through.

const LIMIT = 4 * 1024 * 1024
const shape = (method: string, path: string, extra: Partial<CaseShape> = {}): CaseShape => ({ method, path, headerBytes: 200, authorized: true, bodyBytes: 0, ...extra })
const json = (status: number, value: unknown): Answer => ({ status, contentType: 'application/json; charset=utf-8', body: JSON.stringify(value) })
const ndjson = (lines: unknown[], end = '\n'): Answer => ({ status: 200, contentType: 'application/x-ndjson', body: lines.map(l => JSON.stringify(l)).join('\n') + end })
const sse = (events: string[]): Answer => ({ status: 200, contentType: 'text/event-stream', body: events.map(e => `data: ${e}\n\n`).join('') })
const transport = (status: number): Answer => json(status, { error: 'Bad Request', message: 'm', statusCode: status })

const cases: Array<{ what: string, c: CaseShape, answer: Answer, head?: boolean, ok: boolean }> = [
  { what: 'a JSON route answering JSON', c: shape('GET', '/api/tags'), answer: json(200, { models: [] }), ok: true },
  { what: 'a 500 from a completion endpoint', c: shape('POST', '/v1/chat/completions'), answer: json(500, { error: { message: 'x', type: 'server_error' } }), ok: false },
  { what: 'an Ollama endpoint answering in OpenAI\'s shape', c: shape('POST', '/api/chat'), answer: json(400, { error: { message: 'x', type: 't' } }), ok: false },
  { what: 'an OpenAI endpoint answering in Ollama\'s shape', c: shape('POST', '/v1/chat/completions'), answer: json(400, { error: 'x' }), ok: false },
  { what: 'a harombe error without its code', c: shape('POST', '/api/complete'), answer: json(400, { error: { message: 'x' } }), ok: false },
  { what: '401 in the route\'s shape without the token', c: shape('GET', '/api/cluster', { authorized: false }), answer: json(401, { error: { code: 'unauthorized', message: 'm' } }), ok: true },
  { what: '401 with the right token', c: shape('GET', '/api/cluster'), answer: json(401, { error: { code: 'unauthorized', message: 'm' } }), ok: false },
  { what: 'a probe without the token', c: shape('GET', '/healthz', { authorized: false }), answer: json(200, { status: 'ok' }), ok: true },
  { what: 'an unknown method refused by the parser', c: shape('FOO', '/api/chat'), answer: transport(400), ok: true },
  { what: 'an unknown method answered by a route', c: shape('FOO', '/api/chat'), answer: json(404, { error: 'no route' }), ok: false },
  { what: 'headers over 16 KiB refused by the parser', c: shape('GET', '/api/tags', { headerBytes: 20_000 }), answer: transport(431), ok: true },
  { what: 'headers over 16 KiB answered 200', c: shape('GET', '/api/tags', { headerBytes: 20_000 }), answer: json(200, {}), ok: false },
  { what: 'an unserved Ollama endpoint in harombe\'s shape', c: shape('POST', '/api/pull'), answer: json(404, { error: { code: 'not_found', message: 'm' } }), ok: false },
  { what: 'an unserved Ollama endpoint in Ollama\'s shape', c: shape('POST', '/api/pull'), answer: json(404, { error: 'no route' }), ok: true },
  { what: 'a body over the limit', c: shape('POST', '/api/chat', { bodyBytes: LIMIT + 1 }), answer: json(413, { error: 'too large' }), ok: true },
  { what: '413 for a small body', c: shape('POST', '/api/chat', { bodyBytes: 10 }), answer: json(413, { error: 'too large' }), ok: false },
  { what: 'an SSE stream ending with [DONE]', c: shape('POST', '/v1/chat/completions'), answer: sse(['{"choices":[]}', '[DONE]']), ok: true },
  { what: 'an SSE stream ending with an error event', c: shape('POST', '/v1/chat/completions'), answer: sse(['{"choices":[]}', '{"error":{"message":"t","type":"server_error"}}']), ok: true },
  { what: 'an SSE stream cut short', c: shape('POST', '/v1/chat/completions'), answer: sse(['{"choices":[]}']), ok: false },
  { what: 'NDJSON ending with the final line', c: shape('POST', '/api/chat'), answer: ndjson([{ done: false }, { done: true }]), ok: true },
  { what: 'NDJSON ending with an Ollama error line', c: shape('POST', '/api/chat'), answer: ndjson([{ done: false }, { error: 'timeout' }]), ok: true },
  { what: 'NDJSON cut without its final line', c: shape('POST', '/api/chat'), answer: ndjson([{ done: false }]), ok: false },
  { what: 'NDJSON cut mid-line', c: shape('POST', '/api/complete'), answer: ndjson([{ type: 'delta' }], ''), ok: false },
  { what: 'harombe NDJSON ending with its error line', c: shape('POST', '/api/complete'), answer: ndjson([{ type: 'delta' }, { type: 'error', error: { code: 'timeout', message: 'm' } }]), ok: true },
  { what: 'a HEAD answer with a body', c: shape('HEAD', '/api/tags'), answer: json(200, {}), head: true, ok: false },
  { what: 'a broken %-escape refused in the route\'s shape', c: shape('GET', '/v1/%zz'), answer: json(400, { error: { message: 'm', type: 'invalid_request_error' } }), ok: true }
]

describe('HTTP fuzz contract (the oracle)', () => {
  for (const x of cases) {
    it(`should ${x.ok ? 'accept' : 'refuse'} ${x.what}`, () => {
      const problem = answerProblem(x.c, x.answer, LIMIT, x.head === true)
      assert.equal(problem == null, x.ok, problem ?? 'accepted')
    })
  }

  it('should name the API each path\'s errors belong to', () => {
    assert.deepEqual(['/v1/models', '/api/chat', '/api/show', '/api/complete', '/nowhere'].map(dialectOf), ['openai', 'ollama', 'ollama', 'harombe', 'harombe'])
  })
})
