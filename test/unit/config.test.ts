import assert from 'node:assert/strict'
import { fileURLToPath } from 'node:url'
import {
  ConfigError,
  formatPath,
  loadClusterConfig,
  nodeModels,
  parseClusterConfig,
  parsePeerOptions
} from '../../src/config/index.js'
import type { ConfigProblem } from '../../src/config/index.js'

const FIXTURE = fileURLToPath(new URL('../fixtures/config/cluster.yaml', import.meta.url))

const GOOD_NODE = '{ name: a, host: localhost, port: 8000, model: m, tier: 0 }'

/**
 * A cluster file with fixed line numbers: discovery on line 3, routing on 4,
 * `nodes:` on 5 and the nth node (from 0) on line 6 + n.
 */
function clusterYaml ({ discovery = '{ method: mdns }', routing = '{ prefer_local: true }', nodes = [GOOD_NODE] }: {
  discovery?: string
  routing?: string
  nodes?: string | string[]
} = {}): string {
  return [
    'cluster:',
    '  coordinator: { host: localhost }',
    `  discovery: ${discovery}`,
    `  routing: ${routing}`,
    typeof nodes === 'string' ? `  nodes: ${nodes}` : '  nodes:',
    ...(typeof nodes === 'string' ? [] : nodes.map(node => `    - ${node}`))
  ].join('\n') + '\n'
}

function configError (fn: () => unknown): ConfigError {
  try {
    fn()
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`)
    return err
  }
  assert.fail('expected a ConfigError, nothing was thrown')
}

describe('config', () => {
  describe('formatPath', () => {
    const cases: Array<[Array<string | number>, string]> = [
      [[], ''],
      [['cluster'], 'cluster'],
      [['cluster', 'nodes', 1, 'tier'], 'cluster.nodes[1].tier'],
      [['cluster', 'discovery', 'bootstrap', 0], 'cluster.discovery.bootstrap[0]'],
      [['cluster', 'x.y'], 'cluster["x.y"]'],
      [['a b'], '["a b"]']
    ]
    for (const [path, expected] of cases) {
      it(`should format ${JSON.stringify(path)} as '${expected}'`, () => {
        assert.equal(formatPath(path), expected)
      })
    }
  })

  describe('parseClusterConfig with a good file', () => {
    it('should parse the seed example with defaults applied', async () => {
      const { config, warnings } = await loadClusterConfig(FIXTURE)
      assert.deepEqual(warnings, [])
      assert.deepEqual(config, {
        coordinator: { host: 'localhost' },
        discovery: { method: 'mdns', bootstrap: [] },
        routing: { prefer_local: true, fallback_strategy: 'graceful', load_balance: true },
        nodes: [
          { name: 'my-macbook', host: 'localhost', port: 8000, model: 'qwen2.5:3b', tier: 0, enabled: true },
          { name: 'cloud-gpu', host: '203.0.113.42', port: 8000, model: 'qwen2.5:32b', tier: 2, auth_token: 'secret-token', enabled: true }
        ]
      })
    })

    it('should apply every default to an empty cluster section', () => {
      const { config, warnings } = parseClusterConfig('cluster: {}\n')
      assert.deepEqual(warnings, [])
      assert.deepEqual(config, {
        coordinator: { host: 'localhost' },
        discovery: { method: 'mdns', bootstrap: [] },
        routing: { prefer_local: true, fallback_strategy: 'graceful', load_balance: true },
        nodes: []
      })
    })

    it('should keep explicit values over defaults', () => {
      const { config } = parseClusterConfig(clusterYaml({
        discovery: '{ method: explicit, bootstrap: [/ip4/192.0.2.7/tcp/4700/p2p/12D3KooWRBy97UB99e3J6hiPesre1MZeuNQvfan4gBziswrRJsNK] }',
        routing: '{ prefer_local: false, fallback_strategy: strict, load_balance: false }',
        nodes: ['{ name: a, host: h, port: 1, model: [m1, m2], tier: 1, enabled: false }']
      }))
      assert.deepEqual(config.discovery, {
        method: 'explicit',
        bootstrap: ['/ip4/192.0.2.7/tcp/4700/p2p/12D3KooWRBy97UB99e3J6hiPesre1MZeuNQvfan4gBziswrRJsNK']
      })
      assert.deepEqual(config.routing, { prefer_local: false, fallback_strategy: 'strict', load_balance: false })
      assert.deepEqual(config.nodes[0], { name: 'a', host: 'h', port: 1, model: ['m1', 'm2'], tier: 1, enabled: false })
    })
  })

  describe('node entries with how the machine runs its peer', () => {
    it('should accept every backend and address key', () => {
      const { config, warnings } = parseClusterConfig(clusterYaml({
        nodes: [
          '{ name: a, host: h, port: 8000, model: m, tier: 0, backend: ollama, backend_url: "http://127.0.0.1:11434", api_host: 0.0.0.0, listen: /ip4/0.0.0.0/tcp/4700 }',
          '{ name: b, host: h, port: 8000, model: m, tier: 1, backend: openai, backend_url: "http://127.0.0.1:8080/v1", backend_key_env: OPENAI_KEY, listen: [/ip4/0.0.0.0/tcp/4700, /ip6/::/tcp/4700] }',
          '{ name: c, host: h, port: 8000, model: m, tier: 2, backend: embedded, model_file: models/q.gguf }',
          '{ name: d, host: h, port: 8000, model: m, tier: 0, backend: none, backend_key: sk-1 }'
        ]
      }))
      assert.deepEqual(warnings, [])
      assert.deepEqual(config.nodes.map(n => [n.backend, n.backend_url, n.backend_key, n.backend_key_env, n.model_file, n.api_host, n.listen]), [
        ['ollama', 'http://127.0.0.1:11434', undefined, undefined, undefined, '0.0.0.0', '/ip4/0.0.0.0/tcp/4700'],
        ['openai', 'http://127.0.0.1:8080/v1', undefined, 'OPENAI_KEY', undefined, undefined, ['/ip4/0.0.0.0/tcp/4700', '/ip6/::/tcp/4700']],
        ['embedded', undefined, undefined, undefined, 'models/q.gguf', undefined, undefined],
        ['none', undefined, 'sk-1', undefined, undefined, undefined, undefined]
      ])
    })

    it('should parse the seed\'s own example unchanged, with no warnings', async () => {
      const { config, warnings } = await loadClusterConfig(fileURLToPath(new URL('../fixtures/config/seed-cluster.yaml', import.meta.url)))
      assert.deepEqual(warnings, [])
      assert.deepEqual(config.nodes.map(n => [n.name, n.host, n.model, n.tier, n.enabled, n.auth_token]), [
        ['my-macbook', 'localhost', 'qwen2.5:3b', 0, true, undefined],
        ['gaming-pc', '192.168.1.100', 'qwen2.5:14b', 1, true, undefined],
        ['server', 'server.local', 'qwen2.5:72b', 2, true, undefined],
        ['cloud-gpu', '203.0.113.42', 'qwen2.5:32b', 2, true, 'your-token-here']
      ])
    })
  })

  describe('nodeModels', () => {
    it('should turn a single model name into a list', () => {
      assert.deepEqual(nodeModels({ model: 'qwen2.5:3b' }), ['qwen2.5:3b'])
    })

    it('should return a copy of a model list', () => {
      const model = ['a', 'b']
      const models = nodeModels({ model })
      assert.deepEqual(models, ['a', 'b'])
      assert.notEqual(models, model)
    })
  })

  describe('parseClusterConfig with a bad field', () => {
    const cases: Array<{ title: string, yaml: string, problem: ConfigProblem }> = [
      {
        title: 'tier 7',
        yaml: clusterYaml({ nodes: [GOOD_NODE, '{ name: b, host: h, port: 8000, model: m, tier: 7 }'] }),
        problem: { path: 'cluster.nodes[1].tier', message: 'expected 0, 1 or 2', line: 7 }
      },
      {
        title: 'tier as a string',
        yaml: clusterYaml({ nodes: ['{ name: a, host: h, port: 8000, model: m, tier: "1" }'] }),
        problem: { path: 'cluster.nodes[0].tier', message: 'expected 0, 1 or 2', line: 6 }
      },
      {
        title: 'missing tier',
        yaml: clusterYaml({ nodes: ['{ name: a, host: h, port: 8000, model: m }'] }),
        problem: { path: 'cluster.nodes[0].tier', message: 'required (expected 0, 1 or 2)', line: 6 }
      },
      {
        title: 'port "abc"',
        yaml: clusterYaml({ nodes: ['{ name: a, host: h, port: abc, model: m, tier: 0 }'] }),
        problem: { path: 'cluster.nodes[0].port', message: 'expected an integer from 1 to 65535', line: 6 }
      },
      {
        title: 'port 70000',
        yaml: clusterYaml({ nodes: ['{ name: a, host: h, port: 70000, model: m, tier: 0 }'] }),
        problem: { path: 'cluster.nodes[0].port', message: 'expected an integer from 1 to 65535', line: 6 }
      },
      {
        title: 'port 0',
        yaml: clusterYaml({ nodes: ['{ name: a, host: h, port: 0, model: m, tier: 0 }'] }),
        problem: { path: 'cluster.nodes[0].port', message: 'expected an integer from 1 to 65535', line: 6 }
      },
      {
        title: 'port 80.5',
        yaml: clusterYaml({ nodes: ['{ name: a, host: h, port: 80.5, model: m, tier: 0 }'] }),
        problem: { path: 'cluster.nodes[0].port', message: 'expected an integer from 1 to 65535', line: 6 }
      },
      {
        title: 'missing name',
        yaml: clusterYaml({ nodes: [GOOD_NODE, '{ host: h, port: 8000, model: m, tier: 0 }'] }),
        problem: { path: 'cluster.nodes[1].name', message: 'required (expected a non-empty node name)', line: 7 }
      },
      {
        title: 'empty name',
        yaml: clusterYaml({ nodes: ['{ name: "", host: h, port: 8000, model: m, tier: 0 }'] }),
        problem: { path: 'cluster.nodes[0].name', message: 'expected a non-empty node name', line: 6 }
      },
      {
        title: 'auth_token "…" (the seed\'s placeholder: not sendable in an HTTP header)',
        yaml: clusterYaml({ nodes: [GOOD_NODE, '{ name: b, host: h, port: 8000, model: m, tier: 0, auth_token: "…" }'] }),
        problem: { path: 'cluster.nodes[1].auth_token', message: 'expected visible ASCII characters only (it is sent in an HTTP Authorization header); "…" is not', line: 7 }
      },
      {
        title: 'auth_token with a space',
        yaml: clusterYaml({ nodes: ['{ name: a, host: h, port: 8000, model: m, tier: 0, auth_token: "two words" }'] }),
        problem: { path: 'cluster.nodes[0].auth_token', message: 'expected visible ASCII characters only (it is sent in an HTTP Authorization header); " " is not', line: 6 }
      },
      {
        title: 'duplicate name',
        yaml: clusterYaml({ nodes: [GOOD_NODE, GOOD_NODE] }),
        problem: { path: 'cluster.nodes[1].name', message: 'duplicate node name "a", already used by nodes[0]', line: 7 }
      },
      {
        title: 'missing host',
        yaml: clusterYaml({ nodes: ['{ name: a, port: 8000, model: m, tier: 0 }'] }),
        problem: { path: 'cluster.nodes[0].host', message: 'required (expected a host name or IP address)', line: 6 }
      },
      {
        title: 'enabled not a boolean',
        yaml: clusterYaml({ nodes: ['{ name: a, host: h, port: 8000, model: m, tier: 0, enabled: yes }'] }),
        problem: { path: 'cluster.nodes[0].enabled', message: 'expected true or false', line: 6 }
      },
      {
        title: 'bad fallback_strategy',
        yaml: clusterYaml({ routing: '{ fallback_strategy: yolo }' }),
        problem: { path: 'cluster.routing.fallback_strategy', message: 'expected graceful or strict', line: 4 }
      },
      {
        title: 'bad discovery method',
        yaml: clusterYaml({ discovery: '{ method: carrier-pigeon }' }),
        problem: { path: 'cluster.discovery.method', message: 'expected mdns or explicit', line: 3 }
      },
      {
        title: 'bootstrap entry without a leading slash',
        yaml: clusterYaml({ discovery: '{ method: explicit, bootstrap: [/ip4/192.0.2.7/tcp/4700, 192.0.2.8:4700] }' }),
        problem: { path: 'cluster.discovery.bootstrap[1]', message: 'not a valid multiaddr "192.0.2.8:4700": must start with "/"', line: 3 }
      },
      {
        title: 'bootstrap entry with a bad address',
        yaml: clusterYaml({ discovery: '{ method: explicit, bootstrap: [/ip4/300.1.1.1/tcp/4700] }' }),
        problem: { path: 'cluster.discovery.bootstrap[0]', message: 'not a valid multiaddr "/ip4/300.1.1.1/tcp/4700": invalid IPv4 address "300.1.1.1"', line: 3 }
      },
      {
        title: 'bootstrap not a list',
        yaml: clusterYaml({ discovery: '{ method: explicit, bootstrap: /ip4/192.0.2.7/tcp/4700 }' }),
        problem: { path: 'cluster.discovery.bootstrap', message: 'expected a list of multiaddrs', line: 3 }
      },
      {
        title: 'model of the wrong type',
        yaml: clusterYaml({ nodes: ['{ name: a, host: h, port: 8000, model: 42, tier: 0 }'] }),
        problem: { path: 'cluster.nodes[0].model', message: 'expected a model name or a non-empty list of model names', line: 6 }
      },
      {
        title: 'model list with a non-string',
        yaml: clusterYaml({ nodes: ['{ name: a, host: h, port: 8000, model: [m, { x: 1 }], tier: 0 }'] }),
        problem: { path: 'cluster.nodes[0].model', message: 'expected a model name or a non-empty list of model names', line: 6 }
      },
      {
        title: 'empty model list',
        yaml: clusterYaml({ nodes: ['{ name: a, host: h, port: 8000, model: [], tier: 0 }'] }),
        problem: { path: 'cluster.nodes[0].model', message: 'expected a model name or a non-empty list of model names', line: 6 }
      },
      {
        title: 'nodes not a list',
        yaml: clusterYaml({ nodes: 'my-macbook' }),
        problem: { path: 'cluster.nodes', message: 'expected a list of nodes', line: 5 }
      },
      {
        title: 'a node that is not a mapping',
        yaml: clusterYaml({ nodes: [GOOD_NODE, 'just-a-name'] }),
        problem: { path: 'cluster.nodes[1]', message: 'expected a node mapping with name, host, port, model and tier', line: 7 }
      },
      {
        title: 'routing not a mapping',
        yaml: clusterYaml({ routing: 'graceful' }),
        problem: { path: 'cluster.routing', message: 'expected a mapping such as { prefer_local: true, fallback_strategy: graceful }', line: 4 }
      },
      {
        title: 'tier 7 in a block-style node',
        yaml: 'cluster:\n  nodes:\n    - name: a\n      host: h\n      port: 8000\n      model: m\n      tier: 7\n',
        problem: { path: 'cluster.nodes[0].tier', message: 'expected 0, 1 or 2', line: 7 }
      },
      {
        title: 'missing name in a block-style node',
        yaml: 'cluster:\n  nodes:\n    - name: a\n      host: h\n      port: 8000\n      model: m\n      tier: 0\n    - host: h\n      port: 8000\n      model: m\n      tier: 0\n',
        problem: { path: 'cluster.nodes[1].name', message: 'required (expected a non-empty node name)', line: 8 }
      },
      {
        title: 'an unknown backend',
        yaml: clusterYaml({ nodes: ['{ name: a, host: h, port: 8000, model: m, tier: 0, backend: llamafile }'] }),
        problem: { path: 'cluster.nodes[0].backend', message: 'expected embedded, ollama, openai or none', line: 6 }
      },
      {
        title: 'a backend_url that is not http(s)',
        yaml: clusterYaml({ nodes: [GOOD_NODE, '{ name: b, host: h, port: 8000, model: m, tier: 0, backend: ollama, backend_url: "ftp://x" }'] }),
        problem: { path: 'cluster.nodes[1].backend_url', message: 'expected an http(s) URL', line: 7 }
      },
      {
        title: 'both backend_key and backend_key_env',
        yaml: clusterYaml({ nodes: ['{ name: a, host: h, port: 8000, model: m, tier: 0, backend_key: k, backend_key_env: K }'] }),
        problem: { path: 'cluster.nodes[0].backend_key_env', message: 'set backend_key or backend_key_env, not both', line: 6 }
      },
      {
        title: 'a backend_key_env that is no variable name',
        yaml: clusterYaml({ nodes: ['{ name: a, host: h, port: 8000, model: m, tier: 0, backend_key_env: "MY KEY" }'] }),
        problem: { path: 'cluster.nodes[0].backend_key_env', message: 'expected an environment variable name', line: 6 }
      },
      {
        title: 'a listen address that is no multiaddr',
        yaml: clusterYaml({ nodes: ['{ name: a, host: h, port: 8000, model: m, tier: 0, listen: "0.0.0.0:4700" }'] }),
        problem: { path: 'cluster.nodes[0].listen', message: 'not a valid multiaddr "0.0.0.0:4700": must start with "/"', line: 6 }
      },
      {
        title: 'an empty model_file',
        yaml: clusterYaml({ nodes: ['{ name: a, host: h, port: 8000, model: m, tier: 0, model_file: "" }'] }),
        problem: { path: 'cluster.nodes[0].model_file', message: 'expected a file path', line: 6 }
      },
      {
        title: 'a bad value reached through an alias',
        yaml: 'cluster:\n  routing: &r\n    fallback_strategy: yolo\n  discovery: { method: mdns }\n',
        problem: { path: 'cluster.routing.fallback_strategy', message: 'expected graceful or strict', line: 3 }
      }
    ]

    for (const { title, yaml, problem } of cases) {
      it(`should report ${title} with its path and line`, () => {
        const err = configError(() => parseClusterConfig(yaml))
        assert.deepEqual(err.problems, [problem])
        assert.equal(err.message, `${problem.path}: ${problem.message} (line ${String(problem.line)})`)
      })
    }

    it('should prefix every line of the message with the file name', () => {
      const err = configError(() => parseClusterConfig(clusterYaml({ nodes: ['{ name: a, host: h, port: 8000, model: m, tier: 7 }'] }), 'cluster.yaml'))
      assert.equal(err.file, 'cluster.yaml')
      assert.equal(err.message, 'cluster.yaml: cluster.nodes[0].tier: expected 0, 1 or 2 (line 6)')
    })

    it('should be matchable by name', () => {
      const err = configError(() => parseClusterConfig('cluster: []\n'))
      assert.equal(err.name, 'ConfigError')
      assert.equal(ConfigError.name, 'ConfigError')
      assert.ok(err instanceof Error)
    })
  })

  describe('parseClusterConfig with several problems', () => {
    it('should report every problem in one error, in file order', () => {
      const yaml = clusterYaml({
        discovery: '{ method: carrier-pigeon }',
        routing: '{ fallback_strategy: yolo }',
        nodes: [
          '{ name: a, host: h, port: abc, model: m, tier: 0 }',
          '{ name: a, host: h, port: 8000, model: m, tier: 7 }'
        ]
      })
      const err = configError(() => parseClusterConfig(yaml))
      const expected = [
        'cluster.discovery.method: expected mdns or explicit (line 3)',
        'cluster.routing.fallback_strategy: expected graceful or strict (line 4)',
        'cluster.nodes[0].port: expected an integer from 1 to 65535 (line 6)',
        'cluster.nodes[1].tier: expected 0, 1 or 2 (line 7)',
        'cluster.nodes[1].name: duplicate node name "a", already used by nodes[0] (line 7)'
      ]
      assert.deepEqual(err.message.split('\n').sort(), [...expected].sort())
      const lines = err.problems.map(problem => problem.line ?? 0)
      assert.deepEqual(lines, [...lines].sort((a, b) => a - b), 'problems are in file order')
    })
  })

  describe('parseClusterConfig with YAML syntax errors', () => {
    const cases: Array<{ title: string, yaml: string, message: string, line: number }> = [
      {
        title: 'a duplicate key',
        yaml: 'cluster:\n  routing: { prefer_local: true }\n  routing: { prefer_local: false }\n',
        message: 'YAML syntax error: Map keys must be unique',
        line: 3
      },
      {
        title: 'a tab-indented line',
        yaml: 'cluster:\n  nodes:\n\t- { name: a }\n',
        message: 'YAML syntax error: Tabs are not allowed as indentation',
        line: 3
      },
      {
        title: 'a misindented key',
        yaml: 'cluster:\n  nodes: []\n    routing: {}\n',
        message: 'YAML syntax error: All mapping items must start at the same column',
        line: 3
      },
      {
        title: 'a stray closing brace',
        yaml: 'cluster:\n  nodes:\n    - { name: a, host: h }}\n  routing: {}\n',
        message: 'YAML syntax error: Unexpected flow-map-end token',
        line: 3
      },
      {
        title: 'a mapping nested in a compact mapping',
        yaml: 'cluster:\n  port: 8000: 1\n',
        message: 'YAML syntax error: Nested mappings are not allowed',
        line: 2
      }
    ]
    for (const { title, yaml, message, line } of cases) {
      it(`should name the line of ${title}`, () => {
        const err = configError(() => parseClusterConfig(yaml, 'bad.yaml'))
        assert.ok(err.problems.length > 0)
        const [problem] = err.problems
        assert.equal(problem?.line, line)
        assert.ok(problem?.message.startsWith(message), problem?.message)
        assert.match(err.message, new RegExp(`^bad\\.yaml: YAML syntax error: .+ \\(line ${line}\\)$`, 'm'))
      })
    }
  })

  describe('parseClusterConfig with unknown keys', () => {
    it('should warn about each unknown key with its path and line, and ignore it', () => {
      const yaml = [
        'version: 2',
        'cluster:',
        '  colour: blue',
        '  routing: { prefer_local: true, fallback: strict }',
        '  nodes:',
        '    - name: a',
        '      host: h',
        '      colour: red',
        '      port: 8000',
        '      model: m',
        '      tier: 0'
      ].join('\n') + '\n'
      const { config, warnings } = parseClusterConfig(yaml)
      assert.deepEqual(warnings, [
        'version: unknown key, ignored (line 1)',
        'cluster.colour: unknown key, ignored (line 3)',
        'cluster.routing.fallback: unknown key, ignored (line 4)',
        'cluster.nodes[0].colour: unknown key, ignored (line 8)'
      ])
      assert.deepEqual(config.nodes[0], { name: 'a', host: 'h', port: 8000, model: 'm', tier: 0, enabled: true })
      assert.equal(config.routing.fallback_strategy, 'graceful')
    })

    it('should prefix warnings with the file name', () => {
      const { warnings } = parseClusterConfig('cluster:\n  colour: blue\n', 'c.yaml')
      assert.deepEqual(warnings, ['c.yaml: cluster.colour: unknown key, ignored (line 2)'])
    })

    it('should keep the warnings on the error when the file also has errors', () => {
      const err = configError(() => parseClusterConfig(clusterYaml({ nodes: ['{ name: a, host: h, port: 8000, model: m, tier: 7, colour: red }'] })))
      assert.deepEqual(err.problems, [{ path: 'cluster.nodes[0].tier', message: 'expected 0, 1 or 2', line: 6 }])
      assert.deepEqual(err.warnings, ['cluster.nodes[0].colour: unknown key, ignored (line 6)'])
    })
  })

  describe('parseClusterConfig with no usable content', () => {
    const cases: Array<{ title: string, yaml: string, problem: ConfigProblem }> = [
      { title: 'an empty file', yaml: '', problem: { path: '', message: 'the file is empty; expected a top-level `cluster:` mapping' } },
      { title: 'a blank file', yaml: '\n   \n', problem: { path: '', message: 'the file is empty; expected a top-level `cluster:` mapping' } },
      { title: 'only comments', yaml: '# nothing yet\n', problem: { path: '', message: 'the file is empty; expected a top-level `cluster:` mapping' } },
      {
        title: 'no cluster key',
        yaml: 'nodes:\n  - { name: a }\n',
        problem: { path: 'cluster', message: 'required: the file must have a top-level `cluster:` mapping', line: 1 }
      },
      {
        title: 'a list at the top level',
        yaml: '- cluster: {}\n',
        problem: { path: '', message: 'expected a mapping with a top-level `cluster:` key', line: 1 }
      },
      {
        title: 'an empty cluster key',
        yaml: 'cluster:\n',
        problem: { path: 'cluster', message: 'expected a mapping with coordinator, discovery, routing and nodes', line: 1 }
      }
    ]
    for (const { title, yaml, problem } of cases) {
      it(`should reject ${title} with a clear error`, () => {
        const err = configError(() => parseClusterConfig(yaml))
        assert.deepEqual(err.problems, [problem])
      })
    }
  })

  describe('parseClusterConfig with exotic YAML', () => {
    // YAML 1.1 types (binary, set, timestamp) stay plain values; !!binary used to crash with a TypeError.
    const cases: Array<{ title: string, yaml: string, problem: ConfigProblem }> = [
      { title: 'a !!binary cluster section', yaml: 'cluster: !!binary aGVsbG8=\n', problem: { path: 'cluster', message: 'expected a mapping with coordinator, discovery, routing and nodes', line: 1 } },
      { title: 'a YAML 1.1 timestamp as a port', yaml: '%YAML 1.1\n---\n' + clusterYaml({ nodes: ['{ name: a, host: h, port: 2001-12-14, model: m, tier: 0 }'] }), problem: { path: 'cluster.nodes[0].port', message: 'expected an integer from 1 to 65535', line: 8 } },
      { title: 'a !!set as the node list', yaml: clusterYaml({ nodes: '!!set { a, b }' }), problem: { path: 'cluster.nodes', message: 'expected a list of nodes', line: 5 } },
      { title: 'a port beyond 2^53, reported once', yaml: clusterYaml({ nodes: ['{ name: a, host: h, port: 123456789012345678901234567890, model: m, tier: 0 }'] }), problem: { path: 'cluster.nodes[0].port', message: 'expected an integer from 1 to 65535', line: 6 } }
    ]
    for (const { title, yaml, problem } of cases) {
      it(`should reject ${title} with its path and line`, () => {
        const err = configError(() => parseClusterConfig(yaml))
        assert.deepEqual(err.problems, [problem])
      })
    }

    it('should refuse a file over the size limit before parsing it', () => {
      const err = configError(() => parseClusterConfig('cluster:\n' + '#'.repeat(2 * 1024 * 1024)))
      assert.match(err.message, /over the \d+-character limit/)
    })
  })

  describe('loadClusterConfig', () => {
    it('should report a missing file as a ConfigError naming it', async () => {
      await assert.rejects(loadClusterConfig('/nonexistent/cluster.yaml'), (err: unknown) => {
        assert.ok(err instanceof ConfigError)
        assert.match(err.message, /^\/nonexistent\/cluster\.yaml: cannot read the file: ENOENT/)
        return true
      })
    })

    it('should stop when the signal is aborted', async () => {
      await assert.rejects(loadClusterConfig(FIXTURE, { signal: AbortSignal.abort() }), { name: 'AbortError' })
    })
  })

  describe('parsePeerOptions', () => {
    it('should apply defaults', () => {
      assert.deepEqual(parsePeerOptions({ name: 'a', dataDir: '/tmp/a' }), {
        name: 'a',
        tier: 0,
        models: [],
        promptCache: true,
        apiHost: '127.0.0.1',
        apiPort: 8000,
        listen: ['/ip4/0.0.0.0/tcp/4700'],
        bootstrap: [],
        mdns: true,
        dataDir: '/tmp/a',
        profile: 'lan',
        logLevel: 'info',
        drainTimeoutMs: 10_000,
        maxHandovers: 2,
        maxTokensCap: 8_192,
        requestTimeoutMs: 600_000,
        jsonLogs: false,
        share: true,
        shareDirs: [],
        shareOllama: false,
        shareUploads: 4,
        routePolicy: 'affinity'
      })
    })

    it('should take a route policy and reject an unknown one', () => {
      assert.equal(parsePeerOptions({ name: 'a', dataDir: '/tmp/a', routePolicy: 'announced' }).routePolicy, 'announced')
      assert.throws(() => parsePeerOptions({ name: 'a', dataDir: '/tmp/a', routePolicy: 'random' }), /routePolicy: expected announced, in-flight, affinity/)
    })

    it('should accept port 0 for the API', () => {
      assert.equal(parsePeerOptions({ name: 'a', dataDir: '/tmp/a', apiPort: 0 }).apiPort, 0)
    })

    const cases: Array<{ title: string, input: Record<string, unknown>, problem: ConfigProblem }> = [
      { title: 'an empty name', input: { name: '', dataDir: '/d' }, problem: { path: 'name', message: 'expected a non-empty peer name' } },
      { title: 'tier 3', input: { name: 'a', dataDir: '/d', tier: 3 }, problem: { path: 'tier', message: 'expected 0, 1 or 2' } },
      { title: 'an unknown backend', input: { name: 'a', dataDir: '/d', backend: 'vllm' }, problem: { path: 'backend', message: 'expected embedded, ollama, openai or none' } },
      { title: 'api port 65536', input: { name: 'a', dataDir: '/d', apiPort: 65536 }, problem: { path: 'apiPort', message: 'expected an integer from 0 to 65535' } },
      { title: 'a bad listen address', input: { name: 'a', dataDir: '/d', listen: ['tcp:4700'] }, problem: { path: 'listen[0]', message: 'not a valid multiaddr "tcp:4700": must start with "/"' } },
      { title: 'a non-http backend URL', input: { name: 'a', dataDir: '/d', backendUrl: 'ftp://x' }, problem: { path: 'backendUrl', message: 'expected an http(s) URL' } },
      { title: 'a missing data dir', input: { name: 'a' }, problem: { path: 'dataDir', message: 'required (expected a directory path)' } },
      { title: 'a token with a non-ASCII character', input: { name: 'a', dataDir: '/d', token: 'sécret' }, problem: { path: 'token', message: 'expected visible ASCII characters only (it is sent in an HTTP Authorization header); "é" is not' } }
    ]
    for (const { title, input, problem } of cases) {
      it(`should reject ${title}`, () => {
        const err = configError(() => parsePeerOptions(input))
        assert.deepEqual(err.problems, [problem])
      })
    }
  })
})
