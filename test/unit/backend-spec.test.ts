import assert from 'node:assert/strict'
import { parseBackendSpec, type BackendSpec } from '../../src/backends/backend-spec.js'
import { buildModelMap, describeListings, ownerOf } from '../../src/backends/model-map.js'
import { ollamaUrlFromEnv, propsUrl } from '../../src/backends/server-addresses.js'
import { planBackends, type BackendFlags, type PlanContext } from '../../src/cli/start-backends.js'
import { ConfigError, parseClusterConfig, type ClusterNode } from '../../src/config/index.js'

// Several backends per peer (issue 28): the --backend syntax, the plan from flags and the cluster
// file, the model map, and detection's address rules. All pure.

describe('several backends per peer', () => {
  describe('parseBackendSpec', () => {
    const ctx = { home: '/home/u', baseDir: '/work' }
    const cases: Array<[string, BackendSpec | RegExp]> = [
      ['ollama', { kind: 'ollama' }],
      ['ollama=http://gpu:11434', { kind: 'ollama', url: 'http://gpu:11434' }],
      ['openai=http://127.0.0.1:8080/v1', { kind: 'openai', url: 'http://127.0.0.1:8080/v1' }],
      ['openai=http://127.0.0.1:8080/v1,capacity=8', { kind: 'openai', url: 'http://127.0.0.1:8080/v1', capacity: 8 }],
      ['openai=https://api.example/v1,key_env=MY_KEY', { kind: 'openai', url: 'https://api.example/v1', keyEnv: 'MY_KEY' }],
      ['ollama,capacity=2', { kind: 'ollama', capacity: 2 }],
      ['embedded', { kind: 'embedded' }],
      ['embedded=~/models/x.gguf', { kind: 'embedded', modelFile: '/home/u/models/x.gguf' }],
      ['embedded=models/x.gguf', { kind: 'embedded', modelFile: '/work/models/x.gguf' }],
      ['none', { kind: 'none' }],
      ['bogus', /expected embedded, ollama, openai or none.*got "bogus"/],
      ['ollama=', /nothing after "="/],
      ['openai=not a url', /"not a url" is not a URL/],
      ['openai=ftp://h/v1', /expected an http\(s\) URL/],
      ['openai=http://h/v1,capacity=0', /capacity must be a whole number from 1 to 1024/],
      ['openai=http://h/v1,capacity=lots', /capacity must be a whole number/],
      ['openai=http://h/v1,speed=9', /unknown option "speed=9"/],
      ['ollama,key_env=K', /key_env applies to openai backends/],
      ['none=x', /none takes no address/],
      ['embedded=x.gguf,capacity=2', /embedded takes a GGUF path only/]
    ]
    for (const [text, expected] of cases) {
      it(`should read ${JSON.stringify(text)}`, () => {
        if (expected instanceof RegExp) assert.throws(() => parseBackendSpec(text, ctx), expected)
        else assert.deepEqual(parseBackendSpec(text, ctx), expected)
      })
    }
  })

  describe('planBackends', () => {
    const entry = (fields: Partial<ClusterNode>): ClusterNode => ({ name: 'me', host: 'h', port: 8000, model: 'm', tier: 0, enabled: true, ...fields })
    const cases: Array<{ name: string, flags: BackendFlags, context?: Partial<PlanContext>, expected: ReturnType<typeof planBackends> | RegExp }> = [
      { name: 'nothing: detect', flags: {}, expected: { mode: 'detect' } },
      { name: 'one flag', flags: { backend: ['ollama'] }, expected: { mode: 'explicit', specs: [{ kind: 'ollama' }] } },
      { name: 'old single form with --backend-url', flags: { backend: ['openai'], backendUrl: 'http://h:8080/v1', backendKey: 'k' }, expected: { mode: 'explicit', specs: [{ kind: 'openai', url: 'http://h:8080/v1', key: 'k' }] } },
      {
        name: 'two flags, --backend-url fills the one without an address',
        flags: { backend: ['ollama=http://o:11434', 'openai'], backendUrl: 'http://l:8080/v1' },
        expected: { mode: 'explicit', specs: [{ kind: 'ollama', url: 'http://o:11434' }, { kind: 'openai', url: 'http://l:8080/v1' }] }
      },
      { name: '--backend-url with two takers', flags: { backend: ['ollama', 'openai'], backendUrl: 'http://l:8080/v1' }, expected: /several backends could take it/ },
      { name: 'none beside another', flags: { backend: ['none', 'ollama'] }, expected: /--backend: none \(a routing-only peer\) cannot be combined/ },
      { name: 'a bad flag', flags: { backend: ['ollama', 'olama'] }, expected: /^--backend: expected .* got "olama"/ },
      { name: '--model-file alone: embedded', flags: { modelFile: '/m/x.gguf' }, expected: { mode: 'explicit', specs: [{ kind: 'embedded', modelFile: '/m/x.gguf' }] } },
      { name: '--backend-url alone', flags: { backendUrl: 'http://h:1/v1' }, expected: /--backend-url needs --backend/ },
      { name: 'key_env set', flags: { backend: ['openai=http://h/v1,key_env=K'] }, context: { env: { K: 'sk' } }, expected: { mode: 'explicit', specs: [{ kind: 'openai', url: 'http://h/v1', keyEnv: 'K', key: 'sk' }] } },
      { name: 'key_env unset', flags: { backend: ['openai=http://h/v1,key_env=K'] }, expected: /key_env names K, which is not set/ },
      {
        name: 'the entry\'s backends list',
        flags: {},
        context: { file: '/c/cluster.yaml', entry: entry({ backends: ['ollama', { kind: 'embedded', model_file: 'm.gguf' }] }) },
        expected: { mode: 'explicit', specs: [{ kind: 'ollama' }, { kind: 'embedded', modelFile: '/c/m.gguf' }] }
      },
      {
        name: 'the entry\'s single keys',
        flags: {},
        context: { file: '/c/cluster.yaml', entry: entry({ backend: 'openai', backend_url: 'http://h/v1' }), },
        expected: { mode: 'explicit', specs: [{ kind: 'openai', url: 'http://h/v1' }] }
      },
      { name: 'flags over the entry', flags: { backend: ['none'] }, context: { entry: entry({ backends: ['ollama'] }) }, expected: { mode: 'explicit', specs: [{ kind: 'none' }] } }
    ]
    for (const c of cases) {
      it(`should plan ${c.name}`, () => {
        const run = (): ReturnType<typeof planBackends> => planBackends(c.flags, { env: {}, cwd: '/w', home: '/home/u', ...c.context })
        if (c.expected instanceof RegExp) assert.throws(run, (err: Error) => err.name === 'UsageError' && (c.expected as RegExp).test(err.message))
        else assert.deepEqual(run(), c.expected)
      })
    }
  })

  describe('backends: in the cluster file', () => {
    const file = (backends: string): string => `cluster:
  nodes:
    - name: ws
      host: 127.0.0.1
      port: 8000
      model: m
      tier: 0
      backends:
${backends}`
    it('should take strings and mappings', () => {
      const { config } = parseClusterConfig(file('        - ollama\n        - { kind: openai, url: "http://127.0.0.1:8080/v1", capacity: 8 }\n'))
      assert.deepEqual(config.nodes[0]?.backends, ['ollama', { kind: 'openai', url: 'http://127.0.0.1:8080/v1', capacity: 8 }])
    })
    const bad: Array<[string, string, RegExp]> = [
      ['an unknown kind in a string', '        - ollama\n        - olama\n', /cluster\.nodes\[0\]\.backends\[1\]: expected embedded, ollama, openai or none.*got "olama" \(line 10\)/],
      ['a bad capacity in a mapping', '        - { kind: openai, url: "http://h/v1", capacity: 0 }\n', /cluster\.nodes\[0\]\.backends\[0\]\.capacity: expected a whole number from 1 to 1024 \(line 9\)/],
      ['none beside another', '        - none\n        - ollama\n', /cluster\.nodes\[0\]\.backends: none \(a routing-only peer\) cannot be combined with other backends \(line 8\)/],
      ['an empty list', '        []\n', /cluster\.nodes\[0\]\.backends: expected at least one backend/]
    ]
    for (const [name, text, expected] of bad) {
      it(`should name ${name} with its path and line`, () => {
        assert.throws(() => parseClusterConfig(file(text)), (err: Error) => err instanceof ConfigError && expected.test(err.message))
      })
    }
    it('should refuse backends beside backend', () => {
      assert.throws(() => parseClusterConfig(file('        - ollama\n      backend: openai\n')), /set backends \(a list\) or backend and backend_url, not both/)
    })
  })

  describe('buildModelMap', () => {
    it('should let the first listing serve a name and report the other', () => {
      const map = buildModelMap([
        { label: 'ollama 127.0.0.1:11434', models: ['qwen2.5:3b', 'llama3.2:latest'] },
        { label: 'llama-server 127.0.0.1:8080', models: undefined },
        { label: 'lmstudio 127.0.0.1:1234', models: ['phi-4', 'llama3.2', 'qwen2.5:3b'] }
      ])
      assert.deepEqual(map.models, ['qwen2.5:3b', 'llama3.2:latest', 'phi-4'])
      assert.deepEqual(map.duplicates, [
        { model: 'llama3.2', servedBy: 'ollama 127.0.0.1:11434', ignored: 'lmstudio 127.0.0.1:1234' },
        { model: 'qwen2.5:3b', servedBy: 'ollama 127.0.0.1:11434', ignored: 'lmstudio 127.0.0.1:1234' }
      ])
      assert.deepEqual(['qwen2.5:3b', 'llama3.2', 'phi-4', 'nope'].map(m => ownerOf(map, m)), [0, 0, 2, undefined])
    })
    it('should not call a name listed twice by one server a duplicate', () => {
      assert.deepEqual(buildModelMap([{ label: 'a', models: ['x', 'x'] }]).duplicates, [])
    })
    it('should say what was found', () => {
      assert.equal(describeListings([{ label: 'ollama 127.0.0.1:11434', models: ['a', 'b'] }, { label: 'x', models: undefined }, { label: 'lmstudio 127.0.0.1:1234', models: [] }]),
        'ollama 127.0.0.1:11434: a, b · lmstudio 127.0.0.1:1234: no model yet')
    })
  })

  describe('detection addresses', () => {
    const cases: Array<[string | undefined, string]> = [
      [undefined, 'http://127.0.0.1:11434'],
      ['', 'http://127.0.0.1:11434'],
      ['0.0.0.0', 'http://127.0.0.1:11434'],
      ['0.0.0.0:9999', 'http://127.0.0.1:9999'],
      ['gpu.lan', 'http://gpu.lan:11434'],
      ['http://gpu.lan:8000', 'http://gpu.lan:8000'],
      ['https://ollama.example', 'https://ollama.example:443']
    ]
    for (const [value, url] of cases) {
      it(`should read OLLAMA_HOST=${JSON.stringify(value)} as ${url}`, () => { assert.equal(ollamaUrlFromEnv(value), url) })
    }
    it('should find llama-server\'s /props beside /v1', () => {
      assert.equal(propsUrl('http://127.0.0.1:8080/v1'), 'http://127.0.0.1:8080/props')
      assert.equal(propsUrl('http://127.0.0.1:8080/v1/'), 'http://127.0.0.1:8080/props')
      assert.equal(propsUrl('http://h/llm'), 'http://h/llm/props')
    })
  })
})
