import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { clusterApi, resolveApiFlags, type ApiFlags } from '../../src/cli/cluster-api.js'
import { parseClusterConfig } from '../../src/config/index.js'

// Issue 27: `cluster.coordinator.host` is the seed's default host for CLI commands; it was
// documented and never read. `status --config cluster.yaml` (and models, test, complete, pull) uses it.

const file = (coordinator: string, nodes: string[]): string => [
  'cluster:',
  ...(coordinator !== '' ? [`  coordinator: { host: ${coordinator} }`] : []),
  ...(nodes.length > 0 ? ['  nodes:', ...nodes.map(n => `    - ${n}`)] : [])
].join('\n') + '\n'

describe('clusterApi', () => {
  const cases: Array<{ title: string, yaml: string, expected: ReturnType<typeof clusterApi> }> = [
    { title: 'the seed\'s default (localhost) with a node there', yaml: file('', ['{ name: mac, host: localhost, port: 8001, model: m, tier: 0 }']), expected: { api: 'http://localhost:8001' } },
    { title: 'a coordinator no node lives on: the default port', yaml: file('192.0.2.7', ['{ name: mac, host: localhost, port: 8001, model: m, tier: 0 }']), expected: { api: 'http://192.0.2.7:8000' } },
    { title: 'the coordinator node\'s token', yaml: file('192.0.2.7', ['{ name: gpu, host: 192.0.2.7, port: 9000, model: m, tier: 2, auth_token: s3cret }']), expected: { api: 'http://192.0.2.7:9000', token: 's3cret' } },
    { title: 'a disabled node on that host is not asked', yaml: file('192.0.2.7', ['{ name: gpu, host: 192.0.2.7, port: 9000, model: m, tier: 2, enabled: false }']), expected: { api: 'http://192.0.2.7:8000' } },
    { title: 'an IPv6 literal', yaml: file('"::1"', []), expected: { api: 'http://[::1]:8000' } }
  ]
  for (const c of cases) {
    it(`should point at ${c.expected.api} for ${c.title}`, () => {
      assert.deepEqual(clusterApi(parseClusterConfig(c.yaml).config), c.expected)
    })
  }
})

describe('resolveApiFlags', () => {
  let dir: string
  let path: string
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'harombe-cluster-api-'))
    path = join(dir, 'cluster.yaml')
    await writeFile(path, file('127.0.0.1', ['{ name: a, host: 127.0.0.1, port: 8123, model: m, tier: 0, auth_token: from-file }']))
  })
  after(async () => { await rm(dir, { recursive: true, force: true }) })

  it('should use the coordinator and its token when --api is not typed', async () => {
    assert.deepEqual(await resolveApiFlags({ api: 'http://127.0.0.1:8000', config: path }, false, {}), { api: 'http://127.0.0.1:8123', config: path, token: 'from-file' })
  })

  it('should keep a typed --api', async () => {
    assert.deepEqual(await resolveApiFlags({ api: 'http://127.0.0.1:9', config: path }, true, {}), { api: 'http://127.0.0.1:9', config: path })
  })

  it('should keep a given --token or HAROMBE_TOKEN over the file\'s', async () => {
    assert.equal((await resolveApiFlags({ api: 'x', config: path, token: 'flag' }, false, {})).token, 'flag')
    assert.equal((await resolveApiFlags<ApiFlags>({ api: 'x', config: path }, false, { HAROMBE_TOKEN: 'env' })).token, undefined)
  })

  it('should change nothing without --config', async () => {
    const flags = { api: 'http://127.0.0.1:8000' }
    assert.equal(await resolveApiFlags(flags, false, {}), flags)
  })
})
