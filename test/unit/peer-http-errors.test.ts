import assert from 'node:assert/strict'
import { errorFromPeer } from '../../src/client/peer-http.js'

const LABEL = 'peer at http://127.0.0.1:8000'
const harombe = (code: string, message: string): string => JSON.stringify({ error: { code, message } })

describe('errorFromPeer', () => {
  // A peer's error body names its class; anything else is judged by its status.
  const cases: Array<{ status: number, body: string, name: string, retryable: boolean, why: string }> = [
    { status: 401, body: harombe('unauthorized', 'missing or wrong bearer token'), name: 'UnauthorizedError', retryable: false, why: 'a refused token' },
    { status: 403, body: 'forbidden', name: 'UnauthorizedError', retryable: false, why: 'a proxy refusing access' },
    { status: 404, body: harombe('unknown_model', 'no peer serves model x'), name: 'UnknownModelError', retryable: false, why: 'an unknown model' },
    { status: 404, body: harombe('not_found', 'no route POST /v1/api/complete'), name: 'BadRequestError', retryable: false, why: 'a wrong base URL (no such route)' },
    { status: 400, body: harombe('bad_request', 'messages: required'), name: 'BadRequestError', retryable: false, why: 'a malformed request' },
    { status: 413, body: harombe('body_too_large', 'request body is larger than 4194304 bytes'), name: 'BadRequestError', retryable: false, why: 'a body over the limit' },
    { status: 429, body: harombe('busy', 'queue full'), name: 'BusyError', retryable: true, why: 'no capacity' },
    { status: 503, body: harombe('no_peer', 'every candidate is unavailable'), name: 'NoPeerError', retryable: true, why: 'no peer (the status alone would say unavailable)' },
    { status: 504, body: harombe('timeout', 'no first token within 60000 ms'), name: 'CompletionTimeoutError', retryable: true, why: 'a timeout on the peer (the status alone would say unavailable)' },
    { status: 502, body: '<html>Bad Gateway</html>', name: 'UnavailableError', retryable: true, why: 'a proxy in front of a peer that is down' }
  ]
  for (const c of cases) {
    it(`should answer ${c.name} to ${c.status} for ${c.why}`, () => {
      const err = errorFromPeer(c.status, c.body, LABEL)
      assert.equal(err.name, c.name)
      assert.equal(err.retryable, c.retryable)
      assert.ok(err.message.startsWith(`${LABEL} answered ${c.status}`), err.message)
    })
  }

  it('should keep the peer\'s own message', () => {
    assert.equal(errorFromPeer(404, harombe('unknown_model', 'no peer serves model "x"'), LABEL).message, `${LABEL} answered 404: no peer serves model "x"`)
  })
})
