import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { PEER_BIN, spawnPeer, type SpawnedPeer } from '../helpers/spawn-peer.js'
import { startMockOpenAIServer, type MockServer } from '../helpers/mock-openai-server.js'
import { startMockOllamaServer } from '../helpers/mock-ollama-server.js'
import { waitForClusterHttp } from '../helpers/cluster-http.js'

const exec = promisify(execFile)

/** Runs the CLI; resolves with the exit code instead of throwing on a non-zero one. */
async function cli (args: string[]): Promise<{ code: number, stdout: string, stderr: string }> {
  try {
    const { stdout, stderr } = await exec(process.execPath, [PEER_BIN, ...args], { timeout: 30_000 })
    return { code: 0, stdout, stderr }
  } catch (err: any) {
    if (typeof err.code !== 'number') throw err
    return { code: err.code, stdout: err.stdout, stderr: err.stderr }
  }
}

describe('e2e: complete, models and test against spawned peers with real backends', function () {
  this.timeout(90_000)
  let root: string
  const mocks: MockServer[] = []
  const peers: SpawnedPeer[] = []

  before(async () => { root = await mkdtemp(join(tmpdir(), 'harombe-cli-complete-')) })
  after(async () => {
    await Promise.all(peers.map(async p => { await p.stop().catch(() => {}) }))
    await Promise.all(mocks.map(async m => { await m.close() }))
    await rm(root, { recursive: true, force: true })
  })

  it('should complete through the mesh, list models, and report each peer in `test`', async () => {
    const openai = await startMockOpenAIServer({ behavior: { models: ['small'], tokens: ['small', ' says', ' hi'] } })
    const ollama = await startMockOllamaServer({ behavior: { models: ['large'], tokens: ['large', ' says', ' hi'] } })
    mocks.push(openai, ollama)
    const common = ['--no-mdns', '--api-port', '0', '--listen', '/ip4/127.0.0.1/tcp/0']
    const a = await spawnPeer(['--name', 'a', '--tier', '0', '--backend', 'openai', '--backend-url', openai.url, '--data-dir', join(root, 'a'), ...common])
    peers.push(a)
    const b = await spawnPeer(['--name', 'b', '--tier', '2', '--backend', 'ollama', '--backend-url', ollama.url, '--data-dir', join(root, 'b'), '--bootstrap', a.ready.mesh[0] ?? '', ...common])
    peers.push(b)
    await waitForClusterHttp(a.ready.api, cl => cl.peers.length === 2 && cl.peers.every(p => p.state === 'alive' && p.models.length > 0), 10_000, 'both peers with models')

    const done = await cli(['complete', 'hello', '--model', 'large', '--api', a.ready.api])
    assert.equal(done.code, 0, done.stderr)
    assert.equal(done.stdout.trim(), 'large says hi')
    assert.match(done.stderr, /served by b \(tier 2, large/)

    const streamed = await cli(['complete', 'hello', '--tier', '0', '--stream', '--api', b.ready.api])
    assert.equal(streamed.code, 0, streamed.stderr)
    assert.equal(streamed.stdout.trim(), 'small says hi')
    assert.match(streamed.stderr, /served by a/)

    const models = await cli(['models', '--json', '--api', a.ready.api])
    assert.equal(models.code, 0, models.stderr)
    assert.deepEqual(JSON.parse(models.stdout).map((m: any) => [m.name, m.nodes.map((n: any) => n.name)]), [['large', ['b']], ['small', ['a']]])

    const tested = await cli(['test', '--json', '--api', a.ready.api])
    assert.equal(tested.code, 0, tested.stdout + tested.stderr)
    const report = JSON.parse(tested.stdout)
    assert.equal(report.ok, true)
    assert.deepEqual(report.peers.map((p: any) => [p.name, p.ok, p.completion_ms != null]), [['a', true, true], ['b', true, true]])

    // A peer whose backend fails makes `test` exit 1 and say which one.
    ollama.setBehavior({ failStatus: 500, failAll: true })
    const failing = await cli(['test', '--json', '--api', a.ready.api])
    assert.equal(failing.code, 1)
    const failed = JSON.parse(failing.stdout).peers.find((p: any) => p.name === 'b')
    assert.equal(failed.ok, false)
    assert.ok(failed.detail.length > 0)
  })
})
