import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { copyFile, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ensureTinyModel } from '../../src/backends/tiny-gguf.js'
import { spawnPeer, type SpawnedPeer } from '../helpers/spawn-peer.js'
import { runCli } from '../helpers/run-cli.js'
import { pollUntilAsync } from '../helpers/poll.js'

// Acceptance 2 of issue 16: `harombe-peer pull` with --json lines, then `start --model-file` on the pulled file serves completions.

describe('e2e: harombe-peer pull, then serve the pulled file', function () {
  this.timeout(120_000)
  let root: string
  const peers: SpawnedPeer[] = []

  before(async () => { root = await mkdtemp(join(tmpdir(), 'harombe-pull-e2e-')) })
  after(async () => {
    await Promise.all(peers.map(async p => await p.stop().catch(() => null)))
    await rm(root, { recursive: true, force: true })
  })

  const common = ['--api-port', '0', '--listen', '/ip4/127.0.0.1/tcp/0', '--no-mdns']

  it('should pull a model from another peer as NDJSON events, then serve completions from it', async () => {
    // a shares a copy of the tiny model under its own name; b has nothing and does the pull.
    const shared = join(root, 'a-models')
    await mkdir(shared, { recursive: true })
    const source = join(shared, 'tiny-chat.gguf')
    await copyFile(await ensureTinyModel(join(root, 'gen')), source)
    const a = await spawnPeer([...common, '--name', 'a', '--backend', 'none', '--data-dir', join(root, 'a'), '--models-dir', shared])
    peers.push(a)
    const b = await spawnPeer([...common, '--name', 'b', '--backend', 'none', '--data-dir', join(root, 'b'), '--bootstrap', a.ready.mesh[0] ?? ''])
    peers.push(b)
    await pollUntilAsync(async () => {
      const res = await fetch(`${b.ready.api}/api/models/holders`)
      const body = await res.json() as { files: Array<{ name: string }> }
      return body.files.some(f => f.name === 'tiny-chat')
    }, 20_000, 'b to see a holding tiny-chat')

    const out = join(root, 'pulled')
    const pulled = await runCli(['pull', 'tiny-chat', '--api', b.ready.api, '--json', '--to', out], { timeoutMs: 60_000 })
    assert.equal(pulled.code, 0, `pull failed: ${pulled.stderr}`)
    const events = pulled.stdout.trim().split('\n').map(line => JSON.parse(line))
    assert.deepEqual([events[0]?.type, events.at(-1)?.type], ['found', 'done'], pulled.stdout)
    assert.ok(events.some(e => e.type === 'progress'), 'progress lines')
    const done = events.at(-1)
    assert.equal(done.path, join(out, 'tiny-chat.gguf'))
    const sha = (path: string): Promise<string> => readFile(path).then(data => createHash('sha256').update(data).digest('hex'))
    assert.equal(await sha(done.path), await sha(source), 'byte-identical')
    assert.equal(done.sha256, await sha(source))

    const c = await spawnPeer([...common, '--name', 'c', '--no-share', '--data-dir', join(root, 'c'), '--model-file', done.path])
    peers.push(c)
    const res = await fetch(`${c.ready.api}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'tiny-chat', messages: [{ role: 'user', content: 'hello' }], max_tokens: 8 })
    })
    assert.equal(res.status, 200, await res.clone().text())
    const answer = await res.json() as any
    assert.ok(answer.choices[0].message.content.trim().length > 0, 'generated text')
    assert.equal(answer.model, 'tiny-chat')

    const missing = await runCli(['pull', 'no-such-model', '--api', b.ready.api], { timeoutMs: 30_000 })
    assert.equal(missing.code, 1, missing.stderr)
    assert.match(missing.stderr, /no peer holds a model file "no-such-model" \(asked a\)/)
  })
})
