import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { spawnPeer, type SpawnedPeer } from '../helpers/spawn-peer.js'

// Issue 23: `start` keeps the embedded prompt cache by default, and `--no-prompt-cache` (the CLI
// flag, through option resolution to the backend) gives every request a clean slate.

const BODY = { model: 'harombe-tiny', messages: [{ role: 'system', content: 'the mesh routes every prompt to a peer' }, { role: 'user', content: 'hello' }], max_tokens: 4 }

async function cachedTokens (peer: SpawnedPeer): Promise<number | undefined> {
  const res = await fetch(`${peer.ready.api}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(BODY), signal: AbortSignal.timeout(20_000) })
  assert.equal(res.status, 200, await res.clone().text())
  return (await res.json() as any).usage.prompt_tokens_details?.cached_tokens
}

describe('e2e: start --no-prompt-cache', function () {
  this.timeout(90_000)
  let root: string
  const peers: SpawnedPeer[] = []

  before(async () => { root = await mkdtemp(join(tmpdir(), 'harombe-prompt-cache-flag-')) })
  after(async () => {
    await Promise.all(peers.map(async p => { await p.stop().catch(() => {}) }))
    await rm(root, { recursive: true, force: true })
  })

  const start = async (name: string, extra: string[]): Promise<SpawnedPeer> => {
    const peer = await spawnPeer(['--name', name, '--api-port', '0', '--listen', '/ip4/127.0.0.1/tcp/0', '--no-mdns', '--data-dir', join(root, name), ...extra], { timeoutMs: 30_000 })
    peers.push(peer)
    return peer
  }

  it('should reuse the prompt by default and not with --no-prompt-cache', async () => {
    const [warm, clean] = await Promise.all([start('warm', []), start('clean', ['--no-prompt-cache'])])
    assert.equal(await cachedTokens(warm), 0, 'nothing cached on the first request')
    assert.ok((await cachedTokens(warm) ?? 0) > 0, 'the same prompt again is cached')
    assert.deepEqual([await cachedTokens(clean), await cachedTokens(clean)], [0, 0])
  })
})
