import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { spawnPeer, type SpawnedPeer } from '../helpers/spawn-peer.js'
import { closedLoopbackPort, runCli } from '../helpers/run-cli.js'
import { startMockOllamaServer, type MockServer } from '../helpers/mock-ollama-server.js'
import { waitForClusterHttp } from '../helpers/cluster-http.js'

// Issue 27, item 4: with Ollama down, `status` showed the laptop alive with no model and exit 0,
// `test` said "routing only (no model)", and `models` had no row for its qwen2.5:3b — while `test`
// failed a peer that had left cleanly. One rule now (rowHealth): a node listed or announced with a
// model it does not serve right now is a problem, named with its reason; a peer that left is not.

const MODEL = 'qwen2.5:3b'

describe('e2e: a node whose backend is down, and a peer that left', function () {
  this.timeout(120_000)
  let dir: string
  const peers: SpawnedPeer[] = []
  let ollama: MockServer | undefined

  before(async () => { dir = await mkdtemp(join(tmpdir(), 'harombe-backend-down-')) })
  after(async () => {
    await Promise.all(peers.map(async p => { await p.stop() }))
    await ollama?.close()
    await rm(dir, { recursive: true, force: true })
  })

  it('should name the down backend in status, test and models, skip the peer that left, and clear once the backend is up', async () => {
    const ollamaPort = await closedLoopbackPort()
    const ollamaUrl = `http://127.0.0.1:${ollamaPort}`
    const file = join(dir, 'cluster.yaml')
    await writeFile(file, [
      'cluster:',
      '  discovery: { method: explicit }',
      '  nodes:',
      `    - { name: laptop, host: 127.0.0.1, port: 8000, model: "${MODEL}", tier: 0, backend: ollama, backend_url: "${ollamaUrl}" }`
    ].join('\n') + '\n')
    const mesh = (name: string): string[] => ['--no-mdns', '--listen', '/ip4/127.0.0.1/tcp/0', '--api-port', '0', '--data-dir', join(dir, name), '--profile', 'test']
    const laptop = await spawnPeer(['--config', file, '--name', 'laptop', ...mesh('laptop')])
    peers.push(laptop)
    const api = laptop.ready.api
    const other = await spawnPeer(['--name', 'other', '--backend', 'none', '--bootstrap', laptop.ready.mesh[0] ?? '', ...mesh('other')])
    await waitForClusterHttp(api, c => c.peers.some(p => p.name === 'other' && p.state === 'alive'), 10_000, 'other alive')
    assert.equal(await other.stop(), 0)
    await waitForClusterHttp(api, c => c.peers.some(p => p.name === 'other' && p.state === 'left'), 10_000, 'other left')

    const reason = new RegExp(`backend down: ollama at ${ollamaUrl} is unreachable \\(ECONNREFUSED\\)`)
    const status = await runCli(['status', '--api', api])
    assert.equal(status.code, 1, `status exits 1 for the laptop:\n${status.stdout}${status.stderr}`)
    assert.match(status.stdout, new RegExp(`^not serving: laptop \\(${MODEL}: ${reason.source}`, 'mi'))
    assert.doesNotMatch(status.stdout, /not answering/, 'the peer that left is no failure')

    const test = await runCli(['test', '--api', api])
    assert.equal(test.code, 1, test.stdout)
    assert.match(test.stdout, new RegExp(`FAIL\\s+laptop .*not serving ${MODEL}: ${reason.source}`, 'i'))
    assert.match(test.stdout, /ok\s+other .*left the cluster \(skipped\)/)
    assert.match(test.stdout, /1 of 2 failed: laptop\n/)

    const models = await runCli(['models', '--api', api, '--json'])
    assert.equal(models.code, 0, models.stderr)
    const row = (JSON.parse(models.stdout) as Array<{ name: string, nodes: Array<{ name: string, problem?: string }> }>).find(m => m.name === MODEL)
    assert.ok(row != null, `models lists ${MODEL}:\n${models.stdout}`)
    assert.match(row.nodes.find(n => n.name === 'laptop')?.problem ?? '', reason)

    // Ollama comes up with the model: the laptop announces it and every command is content.
    ollama = await startMockOllamaServer({ port: ollamaPort, behavior: { models: [MODEL] } })
    await waitForClusterHttp(api, c => c.peers.some(p => p.name === 'laptop' && p.models.includes(MODEL) && p.unserved == null), 15_000, 'laptop serving')
    const after = await runCli(['status', '--api', api])
    assert.equal(after.code, 0, after.stdout)
    const retest = await runCli(['test', '--api', api])
    assert.equal(retest.code, 0, retest.stdout)
  })
})
