import assert from 'node:assert/strict'
import { Agent, request } from 'node:http'
import { startSyntheticPeer, type SyntheticPeer } from '../helpers/synthetic-peer.js'

// What the HTTP fuzz suite (issue 17) found, one test each (the 413 one is in
// test/e2e/http-upload.test.ts): every request gets an answer, with a documented status, in the
// format of the API its path belongs to.

const TOKEN = 'edge-token'
const auth = { authorization: `Bearer ${TOKEN}` }

/** One request over a keep-alive agent (as client libraries send them): status and body, or the error. */
async function send (api: string, agent: Agent, method: string, path: string, headers: Record<string, string> = {}, body?: string): Promise<{ status: number, body: string }> {
  const url = new URL(api)
  return await new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, method, path, agent, headers: { ...headers, ...(body != null ? { 'content-length': String(Buffer.byteLength(body)) } : {}) } })
    req.setTimeout(3_000, () => { req.destroy(new Error(`no answer to ${method} ${path} within 3 s`)) })
    req.on('response', res => {
      let text = ''
      res.on('data', chunk => { text += String(chunk) })
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, body: text }) })
    })
    req.on('error', reject)
    req.end(body)
  })
}

describe('HTTP edge cases the fuzz suite found', function () {
  this.timeout(20_000)
  let peer: SyntheticPeer
  let agent: Agent
  before(async () => { peer = await startSyntheticPeer({}, { token: TOKEN }) })
  beforeEach(() => { agent = new Agent({ keepAlive: true, maxSockets: 1 }) })
  afterEach(() => { agent.destroy() })
  after(async () => { await peer?.stop() })

  it('should answer HEAD /api/cluster/events with headers only, and serve the next request on the connection', async () => {
    const head = await send(peer.api, agent, 'HEAD', '/api/cluster/events', auth)
    assert.deepEqual(head, { status: 200, body: '' })
    const next = await send(peer.api, agent, 'GET', '/healthz')
    assert.equal(next.status, 200)
  })

  it('should answer 431 to headers over 16 KiB with Connection: close, so a keep-alive client\'s next request works', async () => {
    for (let i = 0; i < 3; i++) {
      const big = await send(peer.api, agent, 'GET', '/api/version', { ...auth, 'x-padding': 'p'.repeat(24_000) })
      assert.equal(big.status, 431)
      assert.equal(JSON.parse(big.body).statusCode, 431)
      // Before: the agent reused the socket the server had closed, and this one failed with ECONNRESET.
      assert.equal((await send(peer.api, agent, 'GET', '/api/version', auth)).status, 200)
    }
  })

  it('should answer a path with a broken %-escape with 400 in the format of its API', async () => {
    const openai = await send(peer.api, agent, 'GET', '/v1/%zz', auth)
    assert.equal(openai.status, 400)
    assert.equal(JSON.parse(openai.body).error.type, 'invalid_request_error')
    const harombe = await send(peer.api, agent, 'GET', '/api/%a', auth)
    assert.equal(JSON.parse(harombe.body).error.code, 'bad_request')
  })

  it('should answer 404 for a path with no route, whatever the body and its content-type', async () => {
    for (const contentType of ['nonsense', 'application/json', 'application/xml']) {
      const answer = await send(peer.api, agent, 'POST', '/v1/chat/completions/', { ...auth, 'content-type': contentType }, 'not json')
      assert.equal(answer.status, 404, `content-type ${contentType}: ${answer.body}`)
      assert.equal(typeof JSON.parse(answer.body).error.message, 'string')
    }
  })

  it('should answer a completion endpoint\'s empty body with 400, whatever its content-type', async () => {
    const answer = await send(peer.api, agent, 'POST', '/api/chat', { ...auth, 'content-type': 'application/xml' }, '')
    assert.equal(answer.status, 400)
    assert.equal(typeof JSON.parse(answer.body).error, 'string')
  })

  it('should answer every Ollama endpoint a peer lacks with 404 in Ollama\'s format', async () => {
    for (const path of ['/api/pull', '/api/push', '/api/create', '/api/copy', '/api/delete']) {
      const answer = await send(peer.api, agent, 'POST', path, auth, '{"model":"synthetic"}')
      assert.equal(answer.status, 404, path)
      assert.equal(typeof JSON.parse(answer.body).error, 'string', `${path}: ${answer.body}`)
    }
  })

  it('should answer /api/show for an unknown model with 404 in Ollama\'s format, whatever its content-type', async () => {
    const answer = await send(peer.api, agent, 'POST', '/api/show', { ...auth, 'content-type': 'application/x-www-form-urlencoded' }, '{"model":"no-such-model"}')
    assert.equal(answer.status, 404)
    assert.match(JSON.parse(answer.body).error, /no-such-model/)
  })

  it('should answer an Ollama embedding body without its input with 400 in Ollama\'s format, whatever its content-type', async () => {
    for (const path of ['/api/embed', '/api/embeddings']) {
      const answer = await send(peer.api, agent, 'POST', path, { ...auth, 'content-type': 'application/x-www-form-urlencoded' }, '{"model":"synthetic"}')
      assert.equal(answer.status, 400, path)
      assert.equal(typeof JSON.parse(answer.body).error, 'string', `${path}: ${answer.body}`)
    }
  })
})
