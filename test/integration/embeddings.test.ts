import assert from 'node:assert/strict'
import OpenAI from 'openai'
import { Ollama } from 'ollama'
import { createCluster, MODEL, postJson, type ClusterNode } from '../helpers/cluster.js'
import { mockEmbedding, MOCK_EMBED_DIMS } from '../helpers/mock-llm.js'
import { MAX_EMBEDDING_INPUTS } from '../../src/embeddings/constants.js'
import { pollUntil } from '../helpers/wait.js'

/** The vector the serving peer's mock computes, as float32 values (what the mesh carries). */
const expected = (text: string): number[] => Array.from(Float32Array.from(mockEmbedding(text)))

describe('embeddings through the mesh', function () {
  this.timeout(20_000)
  const cluster = createCluster()
  afterEach(async () => { await cluster.stop() })

  /** entry: a routing-only peer; b serves MODEL on an OpenAI-compatible upstream, c on Ollama (tier 1). */
  async function mesh (cBehavior: Record<string, unknown> = {}): Promise<{ entry: ClusterNode, b: ClusterNode, c: ClusterNode }> {
    const [entry, b, c] = await cluster.start([
      { name: 'entry', backend: 'none' },
      { name: 'b', tier: 0, backend: 'openai' },
      { name: 'c', tier: 1, backend: 'ollama', behavior: cBehavior }
    ])
    if (entry == null || b == null || c == null) throw new Error('cluster did not start')
    return { entry, b, c }
  }

  describe('openai client embeddings.create', () => {
    it('should embed a string, an array and base64 through an entry peer', async () => {
      const { entry, b } = await mesh()
      const client = new OpenAI({ baseURL: `${entry.api}/v1`, apiKey: 'unused', maxRetries: 0, timeout: 10_000 })

      const one = await client.embeddings.create({ model: MODEL, input: 'hello world', encoding_format: 'float' }).withResponse()
      assert.equal(one.response.headers.get('x-harombe-node'), 'b')
      assert.equal(one.data.data.length, 1)
      assert.deepEqual(one.data.data[0]?.embedding, expected('hello world'))
      assert.equal(one.data.model, MODEL)
      assert.equal(one.data.usage.prompt_tokens, 2)
      assert.equal(b.mock?.requests.filter(r => r.path === '/v1/embeddings').length, 1)

      const many = await client.embeddings.create({ model: MODEL, input: ['a', 'b c', 'd'], encoding_format: 'float' })
      assert.deepEqual(many.data.map(d => d.index), [0, 1, 2])
      assert.deepEqual(many.data.map(d => d.embedding), ['a', 'b c', 'd'].map(expected))

      // The client's default: base64, which it decodes itself.
      const base64 = await client.embeddings.create({ model: MODEL, input: ['x', 'y'] })
      assert.deepEqual(base64.data.map(d => d.embedding), ['x', 'y'].map(expected))
      assert.equal(base64.data[0]?.embedding.length, MOCK_EMBED_DIMS)
    })

    it('should send token arrays on to an openai upstream', async () => {
      const { entry, b } = await mesh()
      const client = new OpenAI({ baseURL: `${entry.api}/v1`, apiKey: 'unused', maxRetries: 0, timeout: 10_000 })
      const out = await client.embeddings.create({ model: MODEL, input: [[1, 2, 3]], encoding_format: 'float' })
      assert.deepEqual(out.data[0]?.embedding, expected('[1,2,3]'))
      assert.deepEqual(b.mock?.requests.filter(r => r.path === '/v1/embeddings').at(-1)?.body.input, [[1, 2, 3]])
    })
  })

  describe('ollama client embed', () => {
    it('should embed through the entry peer on the ollama-backed peer, with prompt_eval_count', async () => {
      const { entry, b, c } = await mesh()
      // The tier header routes embeddings as it routes completions: to c, tier 1.
      const ollama = new Ollama({ host: entry.api, headers: { 'x-harombe-tier': '1' } })
      const out = await ollama.embed({ model: MODEL, input: ['first doc', 'second'] })
      // Unit-length, as Ollama's own /api/embed answers, though this upstream returned raw vectors.
      assert.equal(out.embeddings.length, 2)
      for (const [i, text] of ['first doc', 'second'].entries()) {
        const raw = expected(text)
        const norm = Math.sqrt(raw.reduce((sum, x) => sum + x * x, 0))
        const got = out.embeddings[i] ?? []
        assert.equal(got.length, raw.length)
        raw.forEach((x, j) => { assert.ok(Math.abs((got[j] ?? NaN) - x / norm) < 1e-6, `${text}[${j}]: ${got[j]} vs ${x / norm}`) })
        assert.ok(Math.abs(Math.sqrt(got.reduce((sum, x) => sum + x * x, 0)) - 1) < 1e-6)
      }
      assert.equal(out.prompt_eval_count, 3)
      assert.equal(c.mock?.requests.filter(r => r.path === '/api/embed').length, 1)
      assert.equal(b.mock?.requests.filter(r => r.path === '/v1/embeddings').length, 0)
    })

    it('should answer the legacy /api/embeddings with one embedding, not normalised (as Ollama)', async () => {
      const { entry } = await mesh()
      const res = await postJson(`${entry.api}/api/embeddings`, { model: MODEL, prompt: 'legacy' })
      assert.equal(res.status, 200)
      assert.deepEqual(await res.json(), { embedding: expected('legacy') })
    })
  })

  describe('failover and refusals', () => {
    it('should fail over to another peer when the first refuses, and not ask the refusing one again', async () => {
      const [entry, b, c] = await cluster.start([
        { name: 'entry', backend: 'none' },
        { name: 'b', tier: 0, backend: 'openai', behavior: { embedRefuse: true } },
        { name: 'c', tier: 1, backend: 'ollama' }
      ])
      if (entry == null || b == null || c == null) throw new Error('cluster did not start')
      for (let i = 0; i < 3; i++) {
        const res = await postJson(`${entry.api}/v1/embeddings`, { model: MODEL, input: 'q' })
        assert.equal(res.status, 200)
        assert.equal(res.headers.get('x-harombe-node'), 'c')
      }
      assert.equal(b.mock?.requests.filter(r => r.path === '/v1/embeddings').length, 1, 'the refusing peer is asked once')
    })

    it('should answer 400 naming every peer and its reason when no peer can embed, and keep serving', async () => {
      const [entry, b, c] = await cluster.start([
        { name: 'entry', backend: 'none' },
        { name: 'b', backend: 'openai', behavior: { embedRefuse: true } },
        { name: 'c', tier: 1, backend: 'ollama', behavior: { embedRefuse: true } }
      ])
      if (entry == null || b == null || c == null) throw new Error('cluster did not start')
      const res = await postJson(`${entry.api}/v1/embeddings`, { model: MODEL, input: 'q' })
      assert.equal(res.status, 400)
      const body = await res.json() as any
      assert.equal(body.error.type, 'invalid_request_error')
      // Both peers, each with its server's own reason.
      assert.match(body.error.message, /peer b: [^;]*--embeddings/)
      assert.match(body.error.message, /peer c: [^;]*does not support embeddings/)
      // Asked again, the entry peer remembers both refusals and their reasons, in Ollama's shape.
      const ollamaShape = await postJson(`${entry.api}/api/embed`, { model: MODEL, input: 'q' })
      assert.equal(ollamaShape.status, 400)
      const again = (await ollamaShape.json() as any).error as string
      assert.match(again, /peer b: refused before \([^)]*--embeddings/)
      assert.match(again, /peer c: refused before \([^)]*does not support embeddings/)
      assert.equal(b.mock?.requests.filter(r => r.path === '/v1/embeddings').length, 1)
      // Still serving chat.
      const chat = await postJson(`${entry.api}/v1/chat/completions`, { model: MODEL, messages: [{ role: 'user', content: 'hi' }] })
      assert.equal(chat.status, 200)
    })
  })

  describe('bad input', () => {
    const cases: Array<{ what: string, path: string, body: unknown, status: number, message: RegExp }> = [
      { what: 'an empty input array', path: '/v1/embeddings', body: { model: MODEL, input: [] }, status: 400, message: /empty array/ },
      { what: 'an oversized input array', path: '/v1/embeddings', body: { model: MODEL, input: Array.from({ length: MAX_EMBEDDING_INPUTS + 1 }, () => 'x') }, status: 400, message: /2049 items, over the 2048/ },
      { what: 'a non-string input', path: '/v1/embeddings', body: { model: MODEL, input: [{ text: 'x' }] }, status: 400, message: /input must be a string/ },
      { what: 'a mixed input array', path: '/v1/embeddings', body: { model: MODEL, input: ['x', 5] }, status: 400, message: /input\[1\] must be a string/ },
      { what: 'an empty string', path: '/v1/embeddings', body: { model: MODEL, input: '' }, status: 400, message: /empty string/ },
      { what: 'an unknown model', path: '/v1/embeddings', body: { model: 'nope', input: 'x' }, status: 404, message: /nope/ },
      { what: 'no model', path: '/v1/embeddings', body: { input: 'x' }, status: 400, message: /model/ },
      { what: 'an empty Ollama input array', path: '/api/embed', body: { model: MODEL, input: [] }, status: 400, message: /empty array/ },
      { what: 'a number as Ollama input', path: '/api/embed', body: { model: MODEL, input: 5 }, status: 400, message: /input must be a string or an array of strings/ },
      { what: 'an unknown Ollama model', path: '/api/embed', body: { model: 'nope', input: 'x' }, status: 404, message: /nope/ },
      { what: 'a legacy body without prompt', path: '/api/embeddings', body: { model: MODEL }, status: 400, message: /prompt/ }
    ]
    it('should answer each with a 4xx in the API\'s own shape and keep serving', async () => {
      const { entry } = await mesh()
      for (const c of cases) {
        const res = await postJson(`${entry.api}${c.path}`, c.body)
        assert.equal(res.status, c.status, `${c.what}: status`)
        const body = await res.json() as any
        const message = c.path.startsWith('/v1/') ? body.error?.message : body.error
        assert.equal(typeof message, 'string', `${c.what}: error shape ${JSON.stringify(body)}`)
        assert.match(message, c.message, c.what)
      }
      const ok = await postJson(`${entry.api}/v1/embeddings`, { model: MODEL, input: 'still here' })
      assert.equal(ok.status, 200)
    })
  })

  it('should journal embeddings in /api/requests and count them in /metrics', async () => {
    const { entry } = await mesh()
    await postJson(`${entry.api}/v1/embeddings`, { model: MODEL, input: ['a', 'b'] })
    await postJson(`${entry.api}/v1/embeddings`, { model: 'nope', input: 'a' })
    const requests = await (await fetch(`${entry.api}/api/requests`)).json() as any
    const embeds = requests.requests.filter((r: any) => r.kind === 'embedding')
    assert.equal(embeds.length, 2)
    assert.equal(embeds[1].outcome, 'ok')
    assert.equal(embeds[1].inputs, 2)
    assert.equal(embeds[1].served_by.name, 'b')
    assert.equal(embeds[0].outcome, 'error')
    const metrics = await (await fetch(`${entry.api}/metrics`)).text()
    assert.match(metrics, /harombe_embedding_requests_total\{api="openai",outcome="ok",served_by="b"\} 1/)
    assert.match(metrics, /harombe_embedding_requests_total\{api="openai",outcome="error",served_by="none"\} 1/)
    assert.match(metrics, /harombe_embedding_inputs_total\{served_by="b"\} 2/)
  })
})

describe('embedding cancellation', function () {
  this.timeout(20_000)
  const cluster = createCluster()
  afterEach(async () => { await cluster.stop() })

  it('should abort the serving peer\'s upstream call when the client leaves', async () => {
    const [entry, b] = await cluster.start([{ name: 'entry', backend: 'none' }, { name: 'b', backend: 'openai', behavior: { embedDelayMs: 5_000 } }])
    if (entry == null || b == null) throw new Error('cluster did not start')
    const client = new AbortController()
    const pending = postJson(`${entry.api}/v1/embeddings`, { model: MODEL, input: 'slow' }, { signal: client.signal }).catch(err => err)
    await pollUntil(() => b.mock?.requests.some(r => r.path === '/v1/embeddings') === true, 5_000, 'the embedding request upstream')
    const left = Date.now()
    client.abort()
    const abort = await b.mock?.waitForAbort(1, 3_000)
    assert.ok(abort != null && abort.path === '/v1/embeddings')
    assert.ok(abort.at - left < 2_000, `upstream call aborted ${abort.at - left} ms after the client left`)
    await pending
  })
})

describe('embedding protocol at the door', function () {
  this.timeout(20_000)
  const cluster = createCluster()
  afterEach(async () => { await cluster.stop() })

  it('should answer a malformed request frame with bad_request, and keep serving', async () => {
    const [entry, b] = await cluster.start([{ name: 'entry', backend: 'none' }, { name: 'b', backend: 'openai' }])
    if (entry == null || b == null) throw new Error('cluster did not start')
    const { peerIdFromString } = await import('@libp2p/peer-id')
    const { encodeFrames, readFrames } = await import('../../src/mesh/framing.js')
    const { EMBED_PROTOCOL } = await import('../../src/embeddings/constants.js')
    const { decodeEmbedHeader } = await import('../../src/embeddings/frames.js')
    const stream = await entry.peer.mesh().dialProtocol(peerIdFromString(b.id), EMBED_PROTOCOL)
    void stream.sink([encodeFrames(new TextEncoder().encode('{"id":"x","request":{"model":5}}'))])
    const first = await readFrames(stream.source, 1 << 20).next()
    assert.ok(first.done !== true)
    const header = decodeEmbedHeader(first.value)
    assert.ok(header.ok && header.value.type === 'error')
    assert.equal(header.value.code, 'bad_request')
    assert.match(header.value.message, /bad embedding request frame/)
    const res = await postJson(`${entry.api}/v1/embeddings`, { model: MODEL, input: 'after' })
    assert.equal(res.status, 200)
    assert.equal(res.headers.get('x-harombe-node'), 'b')
  })
})

describe('embedding streams are reused', function () {
  this.timeout(20_000)
  const cluster = createCluster()
  afterEach(async () => { await cluster.stop() })

  it('should carry sequential embeddings on one pooled stream, and open a new one when the serving peer closed it', async () => {
    const [entry, b] = await cluster.start([{ name: 'entry', backend: 'none' }, { name: 'b', backend: 'openai' }])
    if (entry == null || b == null) throw new Error('cluster did not start')
    const { peerIdFromString } = await import('@libp2p/peer-id')
    const { EMBED_PROTOCOL } = await import('../../src/embeddings/constants.js')
    const { embedStreamPoolOf } = await import('../../src/embeddings/client.js')
    const bId = peerIdFromString(b.id)
    const embedStreams = (): number => entry.peer.mesh().getConnections(bId).flatMap(c => c.streams).filter(s => s.protocol === EMBED_PROTOCOL).length
    for (const text of ['one', 'two', 'three']) {
      const res = await postJson(`${entry.api}/v1/embeddings`, { model: MODEL, input: text, encoding_format: 'float' })
      assert.equal(res.status, 200)
      assert.deepEqual((await res.json() as any).data[0].embedding, expected(text))
      assert.equal(embedStreams(), 1, `after "${text}": one embedding stream between the peers`)
      assert.equal(embedStreamPoolOf(entry.peer.mesh()).idle(bId), 1)
    }
    // The serving peer ends its side (as its idle timeout or a restart of its handler would).
    const served = b.peer.mesh().getConnections(peerIdFromString(entry.id)).flatMap(c => c.streams).filter(s => s.protocol === EMBED_PROTOCOL)
    assert.equal(served.length, 1)
    served[0]?.abort(new Error('test: serving side resets its idle stream'))
    const after = await postJson(`${entry.api}/v1/embeddings`, { model: MODEL, input: 'after', encoding_format: 'float' })
    assert.equal(after.status, 200)
    assert.deepEqual((await after.json() as any).data[0].embedding, expected('after'))
    await pollUntil(() => embedStreams() === 1, 2_000, 'the reset stream gone, the new one kept')
    assert.equal(b.mock?.requests.filter(r => r.path === '/v1/embeddings').length, 4)
  })
})
