import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import OpenAI from 'openai'
import { spawnPeer, type SpawnedPeer } from '../helpers/spawn-peer.js'
import { startMockOpenAIServer, type MockServer } from '../helpers/mock-openai-server.js'
import { waitForClusterHttp } from '../helpers/cluster-http.js'

// Issue 14, acceptance 2: spawned peers, `kill -9` of the serving process mid-stream, and the
// official openai client's stream completes without an exception (or, with --no-continue on the
// entry peer, ends with one: the switch works both ways).

const MODEL = 'qwen2.5:3b'
const VICTIM_TOKENS = Array.from({ length: 60 }, (_, i) => ` v${i}`)
const HEIR_TOKENS = [' continued', ' by', ' the', ' heir.']

describe('e2e: kill -9 of the serving peer mid-stream', function () {
  this.timeout(90_000)
  let root: string
  const peers: SpawnedPeer[] = []
  const mocks: MockServer[] = []

  beforeEach(async () => { root = await mkdtemp(join(tmpdir(), 'harombe-e2e-continue-')) })
  afterEach(async () => {
    await Promise.all(peers.splice(0).map(async p => { await p.stop().catch(() => {}) }))
    await Promise.all(mocks.splice(0).map(async m => { await m.close() }))
    await rm(root, { recursive: true, force: true })
  })

  async function cluster (entryFlags: string[]): Promise<{ entry: SpawnedPeer, victim: SpawnedPeer, heirMock: MockServer }> {
    const victimMock = await startMockOpenAIServer({ behavior: { models: [MODEL], tokens: VICTIM_TOKENS, tokenDelayMs: 30 } })
    const heirMock = await startMockOpenAIServer({ behavior: { models: [MODEL], tokens: HEIR_TOKENS, echoPrefix: true } })
    mocks.push(victimMock, heirMock)
    const common = (name: string): string[] => ['--name', name, '--no-mdns', '--api-port', '0', '--listen', '/ip4/127.0.0.1/tcp/0', '--data-dir', join(root, name), '--profile', 'test']
    const entry = await spawnPeer([...common('entry'), '--backend', 'none', ...entryFlags])
    peers.push(entry)
    const bootstrap = ['--bootstrap', entry.ready.mesh[0] ?? '']
    const [victim, heir] = await Promise.all([
      spawnPeer([...common('victim'), '--tier', '1', '--backend', 'openai', '--backend-url', victimMock.url, '--model', MODEL, ...bootstrap]),
      spawnPeer([...common('heir'), '--tier', '0', '--backend', 'openai', '--backend-url', heirMock.url, '--model', MODEL, ...bootstrap])
    ])
    peers.push(victim, heir)
    await waitForClusterHttp(entry.ready.api, cl => cl.peers.filter(p => p.state === 'alive' && p.models.includes(MODEL)).length === 2, 15_000, 'victim and heir serving')
    return { entry, victim, heirMock }
  }

  async function streamAndKill (entry: SpawnedPeer, victim: SpawnedPeer): Promise<{ text: string, error?: unknown }> {
    const client = new OpenAI({ baseURL: `${entry.ready.api}/v1`, apiKey: 'unused', defaultHeaders: { 'x-harombe-tier': '1' }, maxRetries: 0 })
    const stream = await client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'count' }], stream: true })
    let text = ''
    let killed = false
    try {
      for await (const chunk of stream) {
        text += chunk.choices[0]?.delta?.content ?? ''
        if (!killed && text.split(' v').length - 1 >= 5) {
          killed = true
          victim.child.kill('SIGKILL')
        }
      }
    } catch (error) {
      return { text, error }
    }
    assert.ok(killed, 'the victim was killed mid-stream')
    return { text }
  }

  it('should let the official openai client\'s stream complete, continued by another peer', async () => {
    const { entry, victim, heirMock } = await cluster([])
    const { text, error } = await streamAndKill(entry, victim)
    assert.equal(error, undefined, `the stream threw: ${String(error)}`)
    const prefix = (heirMock.chatRequests().at(-1)?.body?.messages as Array<{ role: string, content: string }> | undefined)?.at(-1)
    assert.equal(prefix?.role, 'assistant')
    assert.equal(text, (prefix?.content ?? '') + HEIR_TOKENS.join(''), 'what the client read: the victim\'s part, then the heir\'s, once each')
    const requests = await (await fetch(`${entry.ready.api}/api/requests`)).json() as { requests: Array<{ handovers?: Array<{ name: string }>, served_by?: { name: string } }> }
    const record = requests.requests[0]
    assert.deepEqual(record?.handovers?.map(n => n.name), ['victim'])
    assert.equal(record?.served_by?.name, 'heir')
    assert.match(await (await fetch(`${entry.ready.api}/metrics`)).text(), /harombe_completion_handovers_total\{api="openai"\} 1/)
  })

  it('should end the stream with an error when the entry peer runs with --no-continue', async () => {
    const { entry, victim, heirMock } = await cluster(['--no-continue'])
    const { error } = await streamAndKill(entry, victim)
    assert.ok(error != null, 'the client saw the failure')
    assert.equal(heirMock.chatRequests().length, 0, 'nothing was handed over')
  })
})
