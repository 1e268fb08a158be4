import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { spawnPeer, type SpawnedPeer } from '../helpers/spawn-peer.js'
import { startMockOllamaServer } from '../helpers/mock-ollama-server.js'
import { startMockOpenAIServer } from '../helpers/mock-openai-server.js'
import type { MockServer } from '../helpers/mock-llm.js'

// `harombe-peer start` as a user runs it on a machine with Ollama: no backend option, and the
// models are served. Ollama is found where $OLLAMA_HOST says (a mock on a free port); and
// `--backend` given twice puts two servers behind one peer.

const MESH = ['--api-port', '0', '--listen', '/ip4/127.0.0.1/tcp/0', '--no-mdns', '--profile', 'test']

async function ask (api: string, model: string): Promise<{ status: number, node: string | null, text: string }> {
  const res = await fetch(`${api}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }] }) })
  const body = await res.json() as { choices?: Array<{ message: { content: string } }> }
  return { status: res.status, node: res.headers.get('x-harombe-node'), text: body.choices?.[0]?.message.content ?? '' }
}

describe('e2e: start finds the LLM servers on the machine', function () {
  this.timeout(60_000)
  let root: string
  const peers: SpawnedPeer[] = []
  const mocks: MockServer[] = []

  beforeEach(async () => { root = await mkdtemp(join(tmpdir(), 'harombe-detect-e2e-')) })
  afterEach(async () => {
    await Promise.all(peers.splice(0).map(async p => { await p.stop().catch(() => {}) }))
    await Promise.all(mocks.splice(0).map(async m => { await m.close() }))
    await rm(root, { recursive: true, force: true })
  })

  it('should serve Ollama\'s models with no backend option, and say so on the ready line', async () => {
    const ollama = await startMockOllamaServer({ behavior: { models: ['qwen2.5:3b', 'llama3.2:latest'], tokens: ['via', ' ollama'] } })
    mocks.push(ollama)
    const host = new URL(ollama.url).host
    const peer = await spawnPeer(['--name', 'ws', ...MESH, '--data-dir', join(root, 'ws')], { env: { OLLAMA_HOST: host } })
    peers.push(peer)
    // Other servers on the default ports of this machine would be listed after it.
    assert.match(peer.ready.found ?? '', new RegExp(`^ollama ${host.replace(/\./g, '\\.')}: qwen2\\.5:3b, llama3\\.2:latest( · |$)`))
    assert.match(peer.stderr(), /found: ollama 127\.0\.0\.1:\d+: qwen2\.5:3b, llama3\.2:latest/)
    assert.deepEqual(await ask(peer.ready.api, 'qwen2.5:3b'), { status: 200, node: 'ws', text: 'via ollama' })
  })

  it('should put two servers behind one peer with --backend twice', async () => {
    const ollama = await startMockOllamaServer({ behavior: { models: ['small:1b'], tokens: ['small'] } })
    const openai = await startMockOpenAIServer({ behavior: { models: ['big'], tokens: ['big'] } })
    mocks.push(ollama, openai)
    const peer = await spawnPeer(['--name', 'two', ...MESH, '--data-dir', join(root, 'two'), '--backend', `ollama=${ollama.url}`, '--backend', `openai=${openai.url},capacity=8`])
    peers.push(peer)
    assert.equal(peer.ready.found, undefined, 'no detection when backends are given')
    const models = await (await fetch(`${peer.ready.api}/v1/models`)).json() as { data: Array<{ id: string }> }
    assert.deepEqual(models.data.map(m => m.id).sort(), ['big', 'small:1b'])
    assert.deepEqual(await ask(peer.ready.api, 'small:1b'), { status: 200, node: 'two', text: 'small' })
    assert.deepEqual(await ask(peer.ready.api, 'big'), { status: 200, node: 'two', text: 'big' })
  })
})
