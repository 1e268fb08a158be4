import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createPeer, type Peer } from '../../src/peer.js'
import { spawnPeer, type SpawnedPeer } from '../helpers/spawn-peer.js'

const TOKEN = 'correct-horse-battery-staple'

describe('HTTP API security', function () {
  this.timeout(30_000)
  let root: string

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'harombe-auth-'))
  })
  afterEach(async () => {
    await rm(root, { recursive: true, force: true })
  })

  describe('bearer token on a peer started with one', () => {
    let peer: Peer
    let api: string

    beforeEach(async () => {
      // A routing-only peer: the token check runs before any route, so no backend is needed.
      peer = createPeer({ name: 'guarded', dataDir: join(root, 'p'), token: TOKEN, apiPort: 0, listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, profile: 'test' })
      api = (await peer.start()).apiUrl
    })
    afterEach(async () => { await peer.crash() })

    // One protected endpoint per API, each answering errors in its own format.
    const endpoints = [
      { path: '/v1/models', format: 'openai' },
      { path: '/api/tags', format: 'ollama' },
      { path: '/api/cluster', format: 'harombe' }
    ] as const
    const refused: Array<[string, string | undefined]> = [
      ['no Authorization header', undefined],
      ['a wrong token', 'Bearer wrong'],
      ['a wrong token of the same length', `Bearer ${'x'.repeat(TOKEN.length)}`],
      ['the token with its last byte changed', `Bearer ${TOKEN.slice(0, -1)}X`],
      ['the token without the Bearer scheme', TOKEN]
    ]
    const get = async (path: string, authorization?: string): Promise<Response> =>
      await fetch(api + path, { headers: authorization != null ? { authorization } : {}, signal: AbortSignal.timeout(5_000) })

    for (const [what, authorization] of refused) {
      it(`should answer 401 to ${what}, in each API's own error format`, async () => {
        for (const e of endpoints) {
          const res = await get(e.path, authorization)
          const body = await res.json() as any
          assert.equal(res.status, 401, `${e.path}: ${JSON.stringify(body)}`)
          assert.equal(res.headers.get('www-authenticate'), 'Bearer', e.path)
          if (e.format === 'openai') {
            assert.equal(body.error?.type, 'authentication_error', `OpenAI error shape: ${JSON.stringify(body)}`)
            assert.match(body.error.message, /bearer token/)
          } else if (e.format === 'ollama') {
            assert.equal(typeof body.error, 'string', `Ollama error shape: ${JSON.stringify(body)}`)
            assert.match(body.error, /bearer token/)
          } else {
            assert.equal(body.error?.code, 'unauthorized', `harombe error shape: ${JSON.stringify(body)}`)
          }
        }
      })
    }

    it('should answer 200 to the right token', async () => {
      for (const e of endpoints) {
        const res = await get(e.path, `Bearer ${TOKEN}`)
        assert.equal(res.status, 200, `${e.path}: ${await res.text()}`)
      }
    })

    it('should keep the health probes open without a token', async () => {
      assert.equal((await get('/healthz')).status, 200)
      // Alone and without a backend the peer is not ready: 503 from the probe itself, not 401.
      const ready = await get('/readyz')
      assert.notEqual(ready.status, 401, await ready.text())
    })

    it('should not treat a path that merely starts like a probe as open', async () => {
      for (const path of ['/api/cluster?/healthz', '/healthzx', '/healthz/']) {
        const res = await get(path)
        assert.ok(res.status === 401 || res.status === 404, `${path} answered ${res.status}`)
        assert.notEqual(res.status, 200, path)
      }
    })
  })

  describe('start-up warning for an exposed API', () => {
    const spawned: SpawnedPeer[] = []
    afterEach(async () => {
      await Promise.all(spawned.splice(0).map(async p => { await p.kill() }))
    })

    // Port 0 and loopback-only mesh: 0.0.0.0 is bound, but nothing ever connects to a LAN address.
    const start = (extra: string[]): string[] => [
      'start', '--name', 'w', '--api-port', '0', '--listen', '/ip4/127.0.0.1/tcp/0', '--backend', 'none', '--no-mdns', '--data-dir', join(root, 'data'), ...extra
    ]
    const WARNING = /HTTP API listens on .* without a token/

    it('should warn when the API binds a non-loopback address without a token', async () => {
      const peer = await spawnPeer(start(['--api-host', '0.0.0.0']), { env: { HAROMBE_TOKEN: '' } })
      spawned.push(peer)
      // Logged before the backend and the mesh start, long before the ready line.
      assert.match(peer.stderr(), WARNING)
      assert.match(peer.stderr(), /0\.0\.0\.0/)
    })

    it('should not warn with a token, or on the default loopback address', async () => {
      const [withToken, loopback] = await Promise.all([
        spawnPeer(start(['--api-host', '0.0.0.0', '--token', TOKEN, '--data-dir', join(root, 'token')])),
        spawnPeer(start([]), { env: { HAROMBE_TOKEN: '' } })
      ])
      spawned.push(withToken, loopback)
      assert.doesNotMatch(withToken.stderr(), WARNING)
      assert.doesNotMatch(loopback.stderr(), WARNING)
      assert.match(loopback.ready.api, /^http:\/\/127\.0\.0\.1:/, 'the default bind is loopback')
    })
  })
})
