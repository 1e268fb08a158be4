import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { Agent, request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { spawnPeer, type SpawnedPeer } from '../helpers/spawn-peer.js'

// Found by the HTTP fuzz suite (issue 17): a body over the 4 MiB limit is refused (413) before it
// is read, while the client is still sending it. The peer used to close the connection at once,
// and the reset overtook the answer: about one upload in three saw EPIPE instead of 413. The peer
// must run in its own process to see it (in one process, client and server take turns on one
// event loop and the race never happens).

const UPLOADS = 30
const BODY = Buffer.alloc(4 * 1024 * 1024 + 1, 0x20)

/** POST /api/chat with `body` over a keep-alive agent: the status, or the error code when no answer came. */
async function upload (api: URL, agent: Agent, body: Buffer): Promise<string> {
  return await new Promise(resolve => {
    const req = request({ host: api.hostname, port: api.port, method: 'POST', path: '/api/chat', agent, headers: { 'content-length': String(body.length) } })
    let answered = false
    req.setTimeout(10_000, () => { req.destroy(new Error('no answer within 10 s')) })
    req.on('response', res => {
      answered = true
      res.resume()
      res.on('end', () => { resolve(String(res.statusCode)) })
    })
    req.on('error', (err: NodeJS.ErrnoException) => { if (!answered) resolve(err.code ?? err.message) })
    req.end(body)
  })
}

describe('e2e: a body over the limit gets its 413', function () {
  this.timeout(60_000)
  let root: string
  let peer: SpawnedPeer | undefined

  before(async () => { root = await mkdtemp(join(tmpdir(), 'harombe-upload-')) })
  after(async () => {
    await peer?.stop()
    await rm(root, { recursive: true, force: true })
  })

  it(`should answer ${UPLOADS} uploads of 4 MiB + 1 byte with 413, none with a broken connection`, async () => {
    peer = await spawnPeer(['--backend', 'none', '--api-port', '0', '--listen', '/ip4/127.0.0.1/tcp/0', '--no-mdns', '--data-dir', join(root, 'data')], { timeoutMs: 30_000 })
    const api = new URL(peer.ready.api)
    const agent = new Agent({ keepAlive: true, maxSockets: 1 })
    try {
      const seen: Record<string, number> = {}
      for (let i = 0; i < UPLOADS; i++) {
        const status = await upload(api, agent, BODY)
        seen[status] = (seen[status] ?? 0) + 1
      }
      assert.deepEqual(seen, { 413: UPLOADS })
    } finally {
      agent.destroy()
    }
  })
})
