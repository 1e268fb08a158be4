import assert from 'node:assert/strict'
import OpenAI from 'openai'
import { Ollama } from 'ollama'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createCluster, MODEL, postJson, type ClusterNode } from '../helpers/cluster.js'
import { createEmbeddedBackend } from '../../src/backends/embedded.js'
import { ensureTinyModel, TINY_MODEL_NAME } from '../../src/backends/tiny-gguf.js'

describe('model details and running models across the mesh', function () {
  this.timeout(30_000)
  const cluster = createCluster()
  afterEach(async () => { await cluster.stop() })

  async function mesh (): Promise<{ entry: ClusterNode, a: ClusterNode, b: ClusterNode }> {
    const [entry, a, b] = await cluster.start([
      { name: 'entry', backend: 'none' },
      { name: 'a', backend: 'openai', behavior: { models: ['chat-model'], contextLength: 32_768 } },
      { name: 'b', backend: 'ollama', behavior: { contextLength: 8_192 } }
    ])
    if (entry == null || a == null || b == null) throw new Error('cluster did not start')
    return { entry, a, b }
  }

  it('should answer ollama show from the Ollama peer that serves the model, through the entry peer', async () => {
    const { entry, b } = await mesh()
    const ollama = new Ollama({ host: entry.api })
    const shown = await ollama.show({ model: MODEL })
    assert.equal(shown.template, '{{ .Prompt }}')
    assert.equal(shown.details.family, 'mock')
    assert.equal((shown.model_info as any)['mock.context_length'], 8_192)
    assert.equal(b.mock?.requests.filter(r => r.path === '/api/show').length, 1)
    await assert.rejects(ollama.show({ model: 'nope' }), /not found/)
  })

  it('should answer show for an OpenAI-backed model with the context length its server reports', async () => {
    const { entry } = await mesh()
    const res = await postJson(`${entry.api}/api/show`, { model: 'chat-model' })
    assert.equal(res.status, 200)
    assert.equal(res.headers.get('x-harombe-node'), 'a')
    const body = await res.json() as any
    assert.equal(body.model_info['unknown.context_length'], 32_768)
  })

  it('should list running models of every peer with ollama ps, naming the peer', async () => {
    const { entry } = await mesh()
    const ollama = new Ollama({ host: entry.api })
    const ps = await ollama.ps()
    const byName = new Map(ps.models.map(m => [m.name, m as any]))
    assert.equal(byName.get(MODEL)?.peer.name, 'b')
    assert.equal(byName.get(MODEL)?.context_length, 8_192)
    assert.equal(byName.get(MODEL)?.size, 1234)
    assert.equal(byName.get('chat-model')?.peer.name, 'a')
    assert.equal(byName.get('chat-model')?.context_length, 32_768)
    // Ollama's own expiry passes through; the openai backend keeps its model loaded: "Forever" in Ollama's tools (> 20 years ahead).
    assert.equal(new Date(byName.get(MODEL)?.expires_at).toISOString(), '2030-01-01T00:00:00.000Z')
    assert.ok(new Date(byName.get('chat-model')?.expires_at).getTime() > Date.now() + 20 * 366 * 86_400_000, String(byName.get('chat-model')?.expires_at))
  })

  it('should answer GET /v1/models/{id} with the openai client, and 404 for an unknown id', async () => {
    const { entry } = await mesh()
    const client = new OpenAI({ baseURL: `${entry.api}/v1`, apiKey: 'unused', maxRetries: 0, timeout: 10_000 })
    const model = await client.models.retrieve(MODEL)
    assert.equal(model.id, MODEL)
    assert.equal(model.owned_by, 'b')
    await assert.rejects(client.models.retrieve('nope'), (err: any) => err.status === 404)
  })

  it('should answer show and ps for the embedded model from its GGUF metadata', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'harombe-show-'))
    try {
      const backend = await createEmbeddedBackend({ modelFile: await ensureTinyModel(dir), sequences: 1 })
      const [entry, e] = await cluster.start([
        { name: 'entry', backend: 'none' },
        { name: 'e', backend: 'none', peer: { backend } } as any
      ])
      if (entry == null || e == null) throw new Error('cluster did not start')
      const res = await postJson(`${entry.api}/api/show`, { model: TINY_MODEL_NAME })
      assert.equal(res.status, 200)
      const body = await res.json() as any
      assert.equal(body.details.format, 'gguf')
      assert.equal(body.model_info['general.architecture'], 'llama')
      assert.ok(body.model_info['general.parameter_count'] > 0)
      assert.equal(typeof body.model_info['llama.context_length'], 'number')
      const ps = await (await fetch(`${entry.api}/api/ps`)).json() as any
      const tiny = ps.models.find((m: any) => m.name === TINY_MODEL_NAME)
      assert.equal(tiny.peer.name, 'e')
      assert.ok(tiny.size > 0)
      assert.ok(new Date(tiny.expires_at).getTime() > Date.now() + 20 * 366 * 86_400_000, tiny.expires_at)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('should answer a malformed model-info frame with bad_request and keep serving', async () => {
    const { entry, b } = await mesh()
    const { peerIdFromString } = await import('@libp2p/peer-id')
    const { encodeTextFrames, readFrames } = await import('../../src/mesh/framing.js')
    const { MODEL_INFO_PROTOCOL, decodeInfoAnswer } = await import('../../src/model-info/protocol.js')
    const stream = await entry.peer.mesh().dialProtocol(peerIdFromString(b.id), MODEL_INFO_PROTOCOL)
    await stream.sink([encodeTextFrames('{"id":"x","kind":"rm -rf"}')])
    const first = await readFrames(stream.source, 1 << 20).next()
    assert.ok(first.done !== true)
    const answer = decodeInfoAnswer(first.value)
    assert.ok(answer.ok && answer.value.type === 'error')
    assert.equal(answer.value.code, 'bad_request')
    const res = await postJson(`${entry.api}/api/show`, { model: MODEL })
    assert.equal(res.status, 200)
  })
})
