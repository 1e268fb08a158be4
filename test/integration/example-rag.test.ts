// examples/rag.ts, run as the README says (`npx tsx examples/rag.ts <api-url>`), against a real
// entry peer and a serving peer whose mock upstream embeds (deterministically) and chats.
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { createCluster, textOf } from '../helpers/cluster.js'
import { REPO_ROOT } from '../helpers/spawn-peer.js'

const run = promisify(execFile)

describe('examples/rag.ts', function () {
  this.timeout(60_000)
  const cluster = createCluster()
  afterEach(async () => { await cluster.stop() })

  it('should embed the documents and the question through the mesh, then answer with the closest two as context', async () => {
    const [entry, b] = await cluster.start([{ name: 'entry', backend: 'none' }, { name: 'b', backend: 'openai' }])
    if (entry == null || b == null) throw new Error('cluster did not start')
    const { stdout } = await run('npx', ['tsx', 'examples/rag.ts', entry.api, 'Who continues an answer?'], { cwd: REPO_ROOT, timeout: 50_000 })
    assert.match(stdout, new RegExp(`^answer: ${textOf('b').replace(/[[\]]/g, '\\$&')}$`, 'm'))
    const embeds = b.mock?.requests.filter(r => r.path === '/v1/embeddings') ?? []
    assert.equal(embeds.length, 2, 'one request for the documents, one for the question')
    assert.equal(embeds[0]?.body.input.length, 3)
    const system = b.mock?.chatRequests()[0]?.body.messages[0].content as string
    assert.equal(system.split('\n').filter(l => l.startsWith('- ')).length, 2)
  })
})
