import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { spawnPeer, type SpawnedPeer } from '../helpers/spawn-peer.js'

// Issue 17 as a new user meets it: a default `start` (embedded tiny model, which never stops by
// itself) and Ollama's `curl -d` call. The flags reach the peer: --max-tokens-cap ends a request
// for 10^9 tokens at the cap, through both the OpenAI and the Ollama endpoint.

describe('e2e: bounded generation with `start --max-tokens-cap`', function () {
  this.timeout(60_000)
  let root: string
  let peer: SpawnedPeer | undefined

  before(async () => { root = await mkdtemp(join(tmpdir(), 'harombe-bounded-cli-')) })
  after(async () => {
    await peer?.stop()
    await rm(root, { recursive: true, force: true })
  })

  it('should end max_tokens 10^9 at the cap, and take Ollama\'s curl -d body', async () => {
    peer = await spawnPeer(['--api-port', '0', '--listen', '/ip4/127.0.0.1/tcp/0', '--no-mdns', '--data-dir', join(root, 'data'), '--max-tokens-cap', '24', '--request-timeout', '20000'], { timeoutMs: 30_000 })
    const api = peer.ready.api
    const openai = await fetch(`${api}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ messages: [{ role: 'user', content: 'hi' }], max_tokens: 1e9 }),
      signal: AbortSignal.timeout(30_000)
    })
    const body = await openai.json() as any
    assert.deepEqual([openai.status, body.choices?.[0]?.finish_reason, body.usage?.completion_tokens], [200, 'length', 24], JSON.stringify(body))

    // curl http://localhost:8000/api/generate -d '{"model": "harombe-tiny", "prompt": "Why is the sky blue?", "stream": false}'
    const ollama = await fetch(`${api}/api/generate`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: '{"model": "harombe-tiny", "prompt": "Why is the sky blue?", "stream": false, "options": {"num_predict": 1000000000}}',
      signal: AbortSignal.timeout(30_000)
    })
    const answer = await ollama.json() as any
    assert.deepEqual([ollama.status, answer.done_reason, answer.eval_count], [200, 'length', 24], JSON.stringify(answer))
  })
})
