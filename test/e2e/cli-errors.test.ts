import assert from 'node:assert/strict'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import type { Server } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { closedLoopbackPort, limitConcurrency, listenOnLoopback, runCli, serveJson, type CliResult } from '../helpers/run-cli.js'
import { spawnPeer, type SpawnedPeer } from '../helpers/spawn-peer.js'

// Acceptance: bad input (malformed YAML, a tier of 7, a port in use, an unreachable bootstrap
// address…) gives one clear line and exit code 2 (usage/config) or 1 (runtime), never a stack
// trace without `--debug`. Every command runs as a real `node bin/harombe-peer.js` process, on
// 127.0.0.1 only and with mDNS off. The cases run concurrently in `before`; each `it` awaits
// its own result.

/** DESIGN: the operation ran and failed. */
const FAILED = 1
/** DESIGN: usage or config error. */
const USAGE = 2
/** A stack frame line, at any indent (libp2p nests indented stacks inside its messages). */
const STACK = /\n\s+at \S/
/** Processes run at once: most cases exit in a second, the bootstrap one idles for 3 s. */
const CONCURRENCY = 4
/** `--profile test` gives up on bootstrap peers after 3 s; `lan` would take 30 s. */
// Generous: a loaded 2-core machine can take seconds just to start the process.
const JOIN_BOUND_MS = 25_000

/** Misindented `host:` on line 6. */
const SYNTAX_ERROR_YAML = `cluster:
  discovery:
    method: mdns
  nodes:
    - name: a
   host: localhost
`

/** `tier: 7` on line 7. */
const TIER_7_YAML = `cluster:
  nodes:
    - name: a
      host: localhost
      port: 8000
      model: "qwen2.5:3b"
      tier: 7
`

/** The seed's own example token, "…", on line 8: it cannot go in an HTTP header. */
const SEED_TOKEN_YAML = `cluster:
  nodes:
    - name: a
      host: localhost
      port: 8000
      model: "qwen2.5:3b"
      tier: 0
      auth_token: "…"
`

/** Two nodes, a and b, neither with a token. */
const TWO_NODES_YAML = `cluster:
  discovery: { method: explicit }
  nodes:
    - { name: a, host: 127.0.0.1, port: 1, model: m, tier: 0, backend: none }
    - { name: b, host: 127.0.0.1, port: 2, model: m, tier: 0, backend: none }
`

interface Fixture {
  dir: string
  /** A loopback port something listens on. */
  busyPort: number
  /** A loopback port nothing listens on. */
  closedPort: number
  /** A valid peer id that no process runs. */
  peerId: string
  /** An HTTP API that answers JSON but is not a harombe peer. */
  foreignApi: string
  /** A fresh `--data-dir` for each process. */
  dataDir: () => string
}

const SAFE_FLAGS: ReadonlyArray<readonly [string, string]> = [
  ['--backend', 'none'],
  ['--listen', '/ip4/127.0.0.1/tcp/0'],
  ['--api-port', '0']
]

/**
 * `start` with the safe flags (routing-only, loopback, any free port, mDNS off, own data dir).
 * A safe flag the case sets itself, or names in `omit`, is left out.
 */
function start (f: Fixture, args: string[], omit: string[] = []): string[] {
  const safe = SAFE_FLAGS.filter(([flag]) => !args.includes(flag) && !omit.includes(flag)).flat()
  return ['start', ...args, ...safe, '--no-mdns', '--data-dir', f.dataDir()]
}

interface ErrorCase {
  /** The `it` title after 'should '. */
  should: string
  args: (f: Fixture) => string[]
  /** The exit code, or the codes that are equally right. */
  code: number | readonly number[]
  /** Each must appear in the one error line. */
  says: (f: Fixture) => Array<string | RegExp>
  /** The process must exit sooner than this (ms from spawn). */
  withinMs?: number
}

const ERROR_CASES: ErrorCase[] = [
  // Config file
  {
    should: 'reject malformed YAML with the file and line (exit 2)',
    args: f => start(f, ['--config', join(f.dir, 'syntax.yaml'), '--name', 'a']),
    code: USAGE,
    says: f => [`${join(f.dir, 'syntax.yaml')}: YAML syntax error`, '(line 6)']
  },
  {
    should: 'reject `tier: 7` in YAML with the field path and line (exit 2)',
    args: f => start(f, ['--config', join(f.dir, 'tier7.yaml'), '--name', 'a']),
    code: USAGE,
    says: f => [`${join(f.dir, 'tier7.yaml')}: cluster.nodes[0].tier: expected 0, 1 or 2 (line 7)`]
  },
  {
    should: 'reject an auth_token that cannot go in an HTTP header (the seed\'s "…") with its path and line (exit 2)',
    args: f => start(f, ['--config', join(f.dir, 'seed-token.yaml'), '--name', 'a']),
    code: USAGE,
    says: f => [`${join(f.dir, 'seed-token.yaml')}: cluster.nodes[0].auth_token: expected visible ASCII characters only`, '"…" is not', '(line 8)']
  },
  {
    should: 'reject a --name the cluster file does not list, naming the ones it does (exit 2)',
    args: f => start(f, ['--config', join(f.dir, 'two-nodes.yaml'), '--name', 'c']),
    code: USAGE,
    says: f => [`${join(f.dir, 'two-nodes.yaml')} has no node named "c"`, 'a, b', '--allow-unlisted']
  },
  // Flag values
  {
    should: 'reject --tier 7 naming --tier (exit 2)',
    args: f => start(f, ['--tier', '7']),
    code: USAGE,
    says: () => ['--tier: expected 0, 1 or 2']
  },
  {
    should: 'reject --api-port abc naming --api-port (exit 2)',
    args: f => start(f, ['--api-port', 'abc']),
    code: USAGE,
    says: () => ['--api-port', 'expected an integer']
  },
  {
    should: 'reject --drain-timeout abc naming --drain-timeout (exit 2)',
    args: f => start(f, ['--drain-timeout', 'abc']),
    code: USAGE,
    says: () => ['--drain-timeout: expected a whole number of milliseconds']
  },
  {
    should: 'reject --backend bogus naming --backend (exit 2)',
    args: f => start(f, ['--backend', 'bogus']),
    code: USAGE,
    says: () => ['--backend: expected']
  },
  {
    should: 'reject a malformed --listen multiaddr naming it (exit 2)',
    args: f => start(f, ['--listen', '/ip4/1.2.3/tcp/0']),
    code: USAGE,
    says: () => ['--listen', '/ip4/1.2.3/tcp/0']
  },
  {
    should: 'reject a --bootstrap address without /p2p/<id> (exit 2)',
    args: f => start(f, ['--bootstrap', '/ip4/127.0.0.1/tcp/4700']),
    code: USAGE,
    says: () => ['--bootstrap /ip4/127.0.0.1/tcp/4700', '/p2p/']
  },
  {
    should: 'reject a missing --mesh-key file (exit 2)',
    args: f => start(f, ['--mesh-key', join(f.dir, 'missing.key')]),
    code: USAGE,
    says: f => [join(f.dir, 'missing.key'), 'no such file']
  },
  {
    should: 'reject a malformed --mesh-key file (exit 2)',
    args: f => start(f, ['--mesh-key', join(f.dir, 'garbage.key')]),
    code: USAGE,
    says: f => [join(f.dir, 'garbage.key'), 'not a libp2p private network key']
  },
  // Issue 5 acceptance: a missing or corrupt --model-file is one clear line and exit 2.
  {
    should: 'reject a missing --model-file (exit 2)',
    args: f => start(f, ['--backend', 'embedded', '--model-file', join(f.dir, 'missing.gguf')], ['--backend']),
    code: USAGE,
    says: f => [join(f.dir, 'missing.gguf'), 'no such file']
  },
  {
    should: 'reject a corrupt --model-file (exit 2)',
    args: f => start(f, ['--backend', 'embedded', '--model-file', join(f.dir, 'garbage.key')], ['--backend']),
    code: USAGE,
    says: f => [join(f.dir, 'garbage.key'), 'not a GGUF file']
  },
  {
    should: 'reject --backend openai without --backend-url (exit 2)',
    args: f => start(f, ['--backend', 'openai'], ['--backend']),
    code: USAGE,
    says: () => ['--backend-url']
  },
  // Runtime failures
  {
    should: 'fail when the API port is in use (exit 1)',
    args: f => start(f, ['--api-port', String(f.busyPort)]),
    code: FAILED,
    says: f => [`127.0.0.1:${f.busyPort}`, 'address already in use']
  },
  {
    should: 'fail when the mesh listen port is in use (exit 1)',
    args: f => start(f, ['--listen', `/ip4/127.0.0.1/tcp/${f.busyPort}`]),
    code: FAILED,
    says: f => [`/ip4/127.0.0.1/tcp/${f.busyPort}`, 'address already in use']
  },
  {
    // Not in the acceptance list; a valid multiaddr that no configured transport can serve
    should: 'fail in one line on a --listen address no transport serves (exit 1 or 2)',
    args: f => start(f, ['--listen', '/ip4/127.0.0.1/udp/0']),
    code: [FAILED, USAGE],
    says: () => ['/ip4/127.0.0.1/udp/0']
  },
  {
    should: 'fail within the test profile\'s join timeout when no bootstrap peer answers (exit 1)',
    args: f => start(f, ['--profile', 'test', '--bootstrap', `/ip4/127.0.0.1/tcp/${f.closedPort}/p2p/${f.peerId}`]),
    code: FAILED,
    says: f => ['cannot reach any bootstrap peer within 3000 ms', `/ip4/127.0.0.1/tcp/${f.closedPort}/p2p/${f.peerId} (connection refused)`],
    withinMs: JOIN_BOUND_MS
  },
  {
    should: 'fail `status` against a closed port saying no peer runs there and how to start one (exit 1)',
    args: f => ['status', '--api', `http://127.0.0.1:${f.closedPort}`],
    code: FAILED,
    says: f => [`no harombe peer at http://127.0.0.1:${f.closedPort} (connection refused)`, 'npx harombe-peer start', '--api <url>']
  },
  {
    should: 'fail `status` against an API that answers JSON but is not a peer (exit 1)',
    args: f => ['status', '--api', f.foreignApi],
    code: FAILED,
    says: f => [`${f.foreignApi} answered /api/cluster without a cluster view`, 'is this a harombe peer API?']
  },
  {
    should: 'fail `models` against an API that answers JSON but is not a peer (exit 1)',
    args: f => ['models', '--api', f.foreignApi],
    code: FAILED,
    says: f => [`${f.foreignApi} answered /api/models without a model list`]
  },
  {
    should: 'fail `complete` against an API that answers JSON but is not a peer (exit 1)',
    args: f => ['complete', 'hi', '--api', f.foreignApi],
    code: FAILED,
    says: f => [`${f.foreignApi} answered /api/complete without a completion`]
  },
  {
    should: 'reject an --api that is not a URL, also with --watch (exit 2)',
    args: () => ['status', '--watch', '--api', '127.0.0.1:8000'],
    code: USAGE,
    says: () => ['--api 127.0.0.1:8000: not an http(s) URL']
  },
  {
    should: 'reject `status --interval` without --watch (exit 2)',
    args: () => ['status', '--interval', '500'],
    code: USAGE,
    says: () => ['--interval: only with --watch']
  },
  {
    should: 'reject `status --watch --interval 0` (exit 2)',
    args: () => ['status', '--watch', '--interval', '0'],
    code: USAGE,
    says: () => ['--interval: expected milliseconds']
  }
]

const HELP_CASES: Array<{ command: string, flags: string[] }> = [
  { command: 'start', flags: ['--name', '--tier', '--backend', '--api-port', '--listen', '--bootstrap', '--no-mdns', '--mesh-key', '--data-dir', '--config'] },
  { command: 'status', flags: ['--api', '--token', '--json', '--watch', '--interval', 'NO_COLOR', 'Examples:'] },
  { command: 'init', flags: ['--output', '--force', '--json'] },
  { command: 'complete', flags: ['<prompt>', '--model', '--tier', '--max-tokens', '--stream', '--json', '--api', '--token', 'Examples:'] },
  { command: 'models', flags: ['--api', '--token', '--json'] },
  { command: 'test', flags: ['--api', '--token', '--json'] },
  { command: 'demo', flags: ['--keep', '--json'] }
]

describe('e2e: CLI errors', function () {
  this.timeout(60_000)

  let fixture: Fixture
  const servers: Server[] = []
  const runs = new Map<string, Promise<CliResult>>()
  const peers: SpawnedPeer[] = []

  /** Starts `args` now (within the concurrency limit); `result(key)` awaits it. */
  const limit = limitConcurrency(CONCURRENCY)
  const launch = (key: string, args: string[]): void => {
    runs.set(key, limit(async () => await runCli(args)))
  }
  const result = async (key: string): Promise<CliResult> => {
    const run = runs.get(key)
    assert.ok(run != null, `no run named ${key}`)
    return await run
  }

  before(async function () {
    const dir = await mkdtemp(join(tmpdir(), 'harombe-cli-errors-'))
    let dataDirs = 0
    const busy = await listenOnLoopback()
    const foreign = await serveJson({ ok: true })
    servers.push(busy.server, foreign.server)
    fixture = {
      dir,
      busyPort: busy.port,
      closedPort: await closedLoopbackPort(),
      peerId: peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString(),
      foreignApi: foreign.url,
      dataDir: () => join(dir, 'data', String(dataDirs++))
    }
    await writeFile(join(dir, 'syntax.yaml'), SYNTAX_ERROR_YAML)
    await writeFile(join(dir, 'tier7.yaml'), TIER_7_YAML)
    await writeFile(join(dir, 'garbage.key'), 'not a key\n')
    await writeFile(join(dir, 'seed-token.yaml'), SEED_TOKEN_YAML)
    await writeFile(join(dir, 'two-nodes.yaml'), TWO_NODES_YAML)

    for (const c of ERROR_CASES) launch(c.should, c.args(fixture))
    launch('--frobnicate', start(fixture, ['--frobnicate']))
    launch('--debug', ['status', '--api', fixture.foreignApi, '--debug'])
    for (const h of HELP_CASES) launch(`${h.command} --help`, [h.command, '--help'])
  })

  after(async function () {
    await Promise.all(peers.map(async p => { await p.stop().catch(() => {}) }))
    // Every run ends by itself or is killed at its timeout; let them finish before removing files
    await Promise.all(runs.values())
    await Promise.all(servers.map(async s => { await new Promise(resolve => { s.close(resolve) }) }))
    if (fixture != null) await rm(fixture.dir, { recursive: true, force: true })
  })

  for (const c of ERROR_CASES) {
    it(`should ${c.should}`, async function () {
      const r = await result(c.should)
      assertOneErrorLine(r, c.code, c.says(fixture))
      if (c.withinMs != null) assert.ok(r.ms < c.withinMs, `took ${r.ms} ms, expected under ${c.withinMs} ms${explain(r)}`)
    })
  }

  it('should reject an unknown option with commander\'s one error line (exit 2)', async function () {
    const r = await result('--frobnicate')
    assertExit(r, USAGE)
    assert.ok(!STACK.test(r.stderr), `printed a stack trace${explain(r)}`)
    // commander adds its help hint, set by `showHelpAfterError`
    const lines = nonEmptyLines(r.stderr).filter(line => !/^\(.*--help.*\)$/.test(line))
    assert.equal(lines.length, 1, `expected one error line besides the help hint${explain(r)}`)
    assert.match(lines[0] ?? '', /^error: .*--frobnicate/, `the error line does not name --frobnicate${explain(r)}`)
  })

  it('should print a stack for an unexpected error only with --debug', async function () {
    // The same run without --debug is the "not a peer" case in the table above: a known error,
    // yet --debug still shows where it came from
    const r = await result('--debug')
    assertExit(r, FAILED)
    assert.match(r.stderr, STACK, `no stack trace with --debug${explain(r)}`)
  })

  for (const h of HELP_CASES) {
    it(`should print help for \`${h.command}\` and exit 0`, async function () {
      const r = await result(`${h.command} --help`)
      assertExit(r, 0)
      assert.equal(r.stderr.trim(), '', `help wrote to stderr${explain(r)}`)
      assert.ok(r.stdout.includes(`Usage: harombe-peer ${h.command}`), `no usage line${explain(r)}`)
      const missing = h.flags.filter(flag => !r.stdout.includes(flag))
      assert.deepEqual(missing, [], `help does not mention ${missing.join(', ')}${explain(r)}`)
    })
  }

  describe('init', function () {
    let initDir: string
    let yamlFile: string
    let keyFile: string
    let first: CliResult

    before(async function () {
      initDir = join(fixture.dir, 'init')
      yamlFile = join(initDir, 'cluster.yaml')
      keyFile = join(initDir, 'mesh.key')
      await mkdir(initDir)
      first = await runCli(['init', '--output', yamlFile])
    })

    const requireFirstInit = (context: Mocha.Context): void => {
      if (first.code !== 0) context.skip()
    }

    it('should write cluster.yaml and mesh.key and exit 0', async function () {
      assertExit(first, 0)
      assert.match(await readFile(yamlFile, 'utf8'), /^cluster:/m, 'cluster.yaml has no `cluster:` section')
      assert.match(await readFile(keyFile, 'utf8'), /^\/key\/swarm\/psk\/1\.0\.0\/\n/, 'mesh.key is not a pnet key')
    })

    it('should refuse to overwrite without --force (exit 1)', async function () {
      requireFirstInit(this)
      const keyBefore = await readFile(keyFile)
      const r = await runCli(['init', '--output', yamlFile])
      assertOneErrorLine(r, FAILED, [yamlFile, 'already exists', '--force'])
      assert.deepEqual(await readFile(keyFile), keyBefore, 'mesh.key was overwritten')
    })

    it('should write a template that `start` accepts', async function () {
      requireFirstInit(this)
      // The template lists two machines on documentation addresses (192.0.2.20, 203.0.113.42);
      // explicit discovery would send them HTTP requests. Point every listed node at a closed
      // loopback port instead: only values change, every key and type stays the template's.
      const loopbackYaml = join(initDir, 'loopback.yaml')
      const template = await readFile(yamlFile, 'utf8')
      const rewritten = template
        .replace(/^(\s+(?:- )?host: ).*$/gm, '$1127.0.0.1')
        .replace(/^(\s+(?:- )?port: ).*$/gm, `$1${fixture.closedPort}`)
      assert.doesNotMatch(rewritten, /^\s+(?:- )?host: (?!127\.0\.0\.1$)/m, 'a host was left off loopback')
      await writeFile(loopbackYaml, rewritten)

      const peer = await spawnPeer(start(fixture, ['--config', loopbackYaml, '--name', 'laptop', '--mesh-key', keyFile]))
      peers.push(peer)
      assert.equal(peer.ready.name, 'laptop')
      assert.doesNotMatch(peer.stderr(), /unknown key|YAML warning/, `the template has warnings:\n${peer.stderrTail()}`)
      assert.equal(await peer.stop(), 0, `exit code after SIGTERM:\n${peer.stderrTail()}`)
    })
  })
})

function nonEmptyLines (text: string): string[] {
  return text.split('\n').map(line => line.trimEnd()).filter(line => line !== '')
}

/** The command and everything it printed, for assertion messages. */
function explain (r: CliResult): string {
  return `\n$ ${r.command}\n--- exit ${r.code} (signal ${r.signal}) after ${r.ms} ms ---\n--- stderr ---\n${r.stderr.trimEnd()}\n--- stdout ---\n${r.stdout.trimEnd()}`
}

function assertExit (r: CliResult, code: number | readonly number[]): void {
  assert.equal(r.timedOut, false, `did not exit before the timeout${explain(r)}`)
  const codes = typeof code === 'number' ? [code] : code
  assert.ok(r.code != null && codes.includes(r.code), `expected exit ${codes.join(' or ')}, got ${r.code}${explain(r)}`)
}

/** Exit code, no stack, exactly one `harombe-peer: ` line on stderr, saying each of `says`. */
function assertOneErrorLine (r: CliResult, code: number | readonly number[], says: Array<string | RegExp>): void {
  assertExit(r, code)
  assert.ok(!STACK.test(r.stderr), `printed a stack trace without --debug${explain(r)}`)
  const lines = nonEmptyLines(r.stderr)
  assert.equal(lines.length, 1, `expected one line on stderr, got ${lines.length}${explain(r)}`)
  const line = lines[0] ?? ''
  assert.ok(line.startsWith('harombe-peer: '), `the line does not start with "harombe-peer: "${explain(r)}`)
  for (const s of says) {
    assert.ok(typeof s === 'string' ? line.includes(s) : s.test(line), `the line does not say ${String(s)}${explain(r)}`)
  }
}
