import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { resolveStartOptions, type StartFlags } from '../../src/cli/start.js'

// One cluster file describes every machine: `start --config cluster.yaml --name <me>` takes this
// machine's backend, addresses and model from its entry; flags still win.
const CLUSTER = `cluster:
  discovery: { method: explicit }
  nodes:
    - name: mac
      host: 192.0.2.10
      port: 8001
      model: "qwen2.5:3b"
      tier: 0
      backend: ollama
      backend_url: http://127.0.0.1:11434
      api_host: 0.0.0.0
      listen: /ip4/0.0.0.0/tcp/4701
    - name: gpu
      host: 192.0.2.20
      port: 8002
      model: [big, bigger]
      tier: 2
      backend: openai
      backend_url: http://127.0.0.1:8080/v1
      backend_key_env: GPU_KEY
      listen: [/ip4/0.0.0.0/tcp/4702, /ip6/::/tcp/4702]
    - name: tiny
      host: 192.0.2.30
      port: 8003
      model: mine
      tier: 1
      model_file: models/mine.gguf
      prompt_cache: false
      backend_key: sk-inline
      enabled: false
`

describe('start options from the node entry', () => {
  let dir: string
  let file: string
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'harombe-start-options-'))
    file = join(dir, 'cluster.yaml')
    await writeFile(file, CLUSTER)
  })
  after(async () => { await rm(dir, { recursive: true, force: true }) })

  const resolve = async (flags: Omit<StartFlags, 'config'>, env: NodeJS.ProcessEnv = {}): ReturnType<typeof resolveStartOptions> =>
    await resolveStartOptions({ config: file, dataDir: dir, ...flags }, env)

  it('should take backend, URL, API host, listen address, port and model from the entry', async () => {
    const { options, enabled } = await resolve({ name: 'mac' })
    assert.deepEqual(
      [options.backend, options.backendUrl, options.apiHost, options.apiPort, options.listen, options.models, options.tier, enabled],
      ['ollama', 'http://127.0.0.1:11434', '0.0.0.0', 8001, ['/ip4/0.0.0.0/tcp/4701'], ['qwen2.5:3b'], 0, true]
    )
  })

  it('should read the backend key from the variable backend_key_env names', async () => {
    const { options } = await resolve({ name: 'gpu' }, { GPU_KEY: 'sk-from-env' })
    assert.deepEqual([options.backend, options.backendKey, options.listen, options.models], ['openai', 'sk-from-env', ['/ip4/0.0.0.0/tcp/4702', '/ip6/::/tcp/4702'], ['big', 'bigger']])
  })

  it('should take HAROMBE_BACKEND_KEY (what `service install` writes to its env file) over the entry, and the flag over both', async () => {
    assert.equal((await resolve({ name: 'tiny' }, { HAROMBE_BACKEND_KEY: 'sk-service' })).options.backendKey, 'sk-service')
    assert.equal((await resolve({ name: 'tiny', backendKey: 'sk-flag' }, { HAROMBE_BACKEND_KEY: 'sk-service' })).options.backendKey, 'sk-flag')
  })

  it('should fail naming the variable when backend_key_env is not set here', async () => {
    await assert.rejects(resolve({ name: 'gpu' }, {}), (err: Error) => err.name === 'UsageError' &&
      err.message === `${file}: node "gpu": backend_key_env names GPU_KEY, which is not set in this environment`)
  })

  it('should resolve model_file against the cluster file\'s directory, take an inline key and say disabled', async () => {
    const { options, enabled, backends } = await resolve({ name: 'tiny' })
    assert.deepEqual([backends, options.modelFile, options.backendKey, enabled], [{ mode: 'explicit', specs: [{ kind: 'embedded', modelFile: join(dir, 'models/mine.gguf') }] }, join(dir, 'models/mine.gguf'), 'sk-inline', false])
  })

  it('should let flags override every entry setting', async () => {
    const { options } = await resolve({
      name: 'mac', backend: 'openai', backendUrl: 'http://127.0.0.1:9999/v1', backendKey: 'k', apiHost: '127.0.0.1', apiPort: '0',
      listen: ['/ip4/127.0.0.1/tcp/0'], model: ['other'], modelFile: '/m.gguf', tier: '2'
    })
    assert.deepEqual(
      [options.backend, options.backendUrl, options.backendKey, options.apiHost, options.apiPort, options.listen, options.models, options.modelFile, options.tier],
      ['openai', 'http://127.0.0.1:9999/v1', 'k', '127.0.0.1', 0, ['/ip4/127.0.0.1/tcp/0'], ['other'], '/m.gguf', 2]
    )
  })

  it('should keep the embedded prompt cache on unless the entry\'s prompt_cache or --no-prompt-cache turns it off', async () => {
    assert.equal((await resolve({ name: 'mac' })).options.promptCache, true)
    assert.equal((await resolve({ name: 'tiny' })).options.promptCache, false)
    assert.equal((await resolve({ name: 'mac', promptCache: false })).options.promptCache, false)
  })

  it('should refuse a --name the file does not list, naming those it does (issue 27)', async () => {
    await assert.rejects(resolve({ name: 'macc' }), (err: Error) => err.name === 'UsageError' &&
      err.message === `${file} has no node named "macc"; it lists: mac, gpu, tiny. Pass --name <one of them>, or --allow-unlisted to join as a peer the file does not list`)
  })

  it('should start an unlisted peer with --allow-unlisted, reaching the listed nodes', async () => {
    const { options, listedNodes, warnings } = await resolve({ name: 'macc', allowUnlisted: true })
    assert.equal(options.name, 'macc')
    assert.equal(listedNodes.length, 3)
    assert.match(warnings.join('\n'), /no node named "macc"/)
  })

  it('should hand every node, this one and disabled ones included, to the peer', async () => {
    const { listedNodes } = await resolve({ name: 'mac' })
    assert.deepEqual(listedNodes.map(n => [n.name, n.enabled, n.models]), [['mac', true, ['qwen2.5:3b']], ['gpu', true, ['big', 'bigger']], ['tiny', false, ['mine']]])
  })
})

describe('start options: --max-tokens-cap and --request-timeout (issue 17)', () => {
  const cases: Array<{ flags: Pick<StartFlags, 'maxTokensCap' | 'requestTimeout'>, expected: [number, number] | string }> = [
    { flags: {}, expected: [8192, 600_000] },
    { flags: { maxTokensCap: '512', requestTimeout: '30000' }, expected: [512, 30_000] },
    { flags: { maxTokensCap: '0', requestTimeout: '0' }, expected: [0, 0] },
    { flags: { maxTokensCap: '-1' }, expected: '--max-tokens-cap: expected a whole number of tokens from 0 to 100000000 (0 = no cap)' },
    { flags: { maxTokensCap: 'lots' }, expected: '--max-tokens-cap: expected a whole number of tokens from 0 to 100000000 (0 = no cap)' },
    { flags: { requestTimeout: '10m' }, expected: '--request-timeout: expected a whole number of milliseconds from 0 to 86400000 (0 = none)' },
    { flags: { requestTimeout: '86400001' }, expected: '--request-timeout: expected a whole number of milliseconds from 0 to 86400000 (0 = none)' }
  ]
  for (const c of cases) {
    it(`should resolve ${JSON.stringify(c.flags)} to ${JSON.stringify(c.expected)}`, async () => {
      const resolved = resolveStartOptions({ name: 'n', dataDir: tmpdir(), ...c.flags }, {})
      if (typeof c.expected === 'string') {
        await assert.rejects(resolved, (err: Error) => err.name === 'UsageError' && err.message === c.expected)
        return
      }
      const { options } = await resolved
      assert.deepEqual([options.maxTokensCap, options.requestTimeoutMs], c.expected)
    })
  }
})

describe('start options: --route-policy (issue 23)', () => {
  const cases: Array<{ flag?: string, expected: string }> = [
    { expected: 'affinity' },
    { flag: 'announced', expected: 'announced' },
    { flag: 'in-flight', expected: 'in-flight' },
    { flag: 'affinity', expected: 'affinity' },
    { flag: 'sticky', expected: '--route-policy: expected announced, in-flight, affinity' }
  ]
  for (const c of cases) {
    it(`should resolve ${c.flag ?? 'no flag'} to ${c.expected}`, async () => {
      const resolved = resolveStartOptions({ name: 'n', dataDir: tmpdir(), ...(c.flag != null ? { routePolicy: c.flag } : {}) }, {})
      if (c.expected.startsWith('--')) {
        await assert.rejects(resolved, (err: Error) => err.name === 'UsageError' && err.message === c.expected)
        return
      }
      assert.equal((await resolved).options.routePolicy, c.expected)
    })
  }
})
