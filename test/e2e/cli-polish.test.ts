import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { closedLoopbackPort, limitConcurrency, runCli, type CliResult } from '../helpers/run-cli.js'
import { PEER_BIN, REPO_ROOT, spawnPeer, type SpawnedPeer } from '../helpers/spawn-peer.js'
import { startMockOpenAIServer, type MockServer } from '../helpers/mock-openai-server.js'
import { readSse } from '../../src/backends/sse.js'
import type { ClusterJson } from '../../src/api/cluster-json.js'

// Issue 8: `status --watch`, colours only on a terminal, `--json` on every command, and one
// friendly line when no peer (or the wrong token) is at `--api`. Every command runs as a real
// `node bin/harombe-peer.js` process against real peers on 127.0.0.1 (mDNS off).

const TOKEN = 'polish-token'
/** Colour must come from the flags under test, never from the environment mocha runs in. */
const PLAIN_ENV = { FORCE_COLOR: undefined, NO_COLOR: undefined, HAROMBE_TOKEN: TOKEN }
const NO_TOKEN_ENV = { ...PLAIN_ENV, HAROMBE_TOKEN: undefined }
/** Generous: a loaded 2-core machine takes seconds to start a process, a view change takes a gossip round. */
const EVENT_BOUND_MS = 30_000
const ANSI = /\x1b\[/
const MESH = ['--no-mdns', '--api-port', '0', '--listen', '/ip4/127.0.0.1/tcp/0']

/** A CLI process that runs until told to stop (`status --watch`), with waits on what it prints. */
interface LiveCli {
  stdout: () => string
  stderr: () => string
  /** Resolves with the output once `predicate` holds for it; rejects after `timeoutMs`, quoting the output. */
  waitFor: (what: string, predicate: (stdout: string, stderr: string) => boolean, timeoutMs?: number) => Promise<void>
  /** Sends `signal` and resolves the exit code; SIGKILL (and a null code) after `graceMs`. */
  stop: (signal?: NodeJS.Signals, graceMs?: number) => Promise<number | null>
  exited: Promise<number | null>
}

const live = new Set<ChildProcess>()
process.once('exit', () => { for (const child of live) child.kill('SIGKILL') })

function startCli (args: string[], env: NodeJS.ProcessEnv): LiveCli {
  const child = spawn(process.execPath, [PEER_BIN, ...args], { cwd: REPO_ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  live.add(child)
  let out = ''
  let err = ''
  const waiters = new Set<() => void>()
  const wake = (): void => { for (const w of waiters) w() }
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => { out += chunk; wake() })
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => { err += chunk; wake() })
  const exited = new Promise<number | null>(resolve => { child.once('close', code => { live.delete(child); wake(); resolve(code) }) })
  const describe = (): string => `\n$ harombe-peer ${args.join(' ')}\n--- stderr ---\n${err}\n--- stdout (tail) ---\n${out.slice(-4000)}`
  return {
    stdout: () => out,
    stderr: () => err,
    exited,
    async waitFor (what, predicate, timeoutMs = EVENT_BOUND_MS) {
      await new Promise<void>((resolve, reject) => {
        const check = (): void => {
          if (predicate(out, err)) finish()
          else if (!live.has(child)) finish(new Error(`exited (code ${child.exitCode}) before ${what}${describe()}`))
        }
        const timer = setTimeout(() => { finish(new Error(`no ${what} within ${timeoutMs} ms${describe()}`)) }, timeoutMs)
        const finish = (error?: Error): void => {
          clearTimeout(timer)
          waiters.delete(check)
          error != null ? reject(error) : resolve()
        }
        waiters.add(check)
        check()
      })
    },
    async stop (signal = 'SIGINT', graceMs = 15_000) {
      if (live.has(child)) child.kill(signal)
      const timer = setTimeout(() => { child.kill('SIGKILL') }, graceMs)
      const code = await exited
      clearTimeout(timer)
      return code
    }
  }
}

/** The NDJSON lines printed so far (a last, unfinished line is left out). */
function jsonLines (stdout: string): ClusterJson[] {
  return stdout.split('\n').slice(0, -1).map(line => JSON.parse(line) as ClusterJson)
}

/** Like helpers/cluster-http's waitForClusterHttp, with the bearer token: re-checks on every pushed view change. */
async function waitForView (api: string, predicate: (cluster: ClusterJson) => boolean, what: string): Promise<void> {
  const signal = AbortSignal.timeout(EVENT_BOUND_MS)
  const headers = { authorization: `Bearer ${TOKEN}` }
  let last: ClusterJson | undefined
  try {
    const events = await fetch(new URL('/api/cluster/events', api), { headers, signal })
    assert.equal(events.status, 200, `GET /api/cluster/events: ${events.status}`)
    for await (const _event of readSse(events.body as ReadableStream<Uint8Array>)) {
      last = await (await fetch(new URL('/api/cluster', api), { headers, signal })).json() as ClusterJson
      if (predicate(last)) return
    }
  } catch (err) {
    if (!signal.aborted) throw err
  }
  assert.fail(`no ${what} at ${api} within ${EVENT_BOUND_MS} ms; last view: ${JSON.stringify(last?.peers.map(p => [p.name, p.state, p.models]))}`)
}

function explain (r: CliResult): string {
  return `\n$ ${r.command}\n--- exit ${r.code} after ${r.ms} ms ---\n--- stderr ---\n${r.stderr}\n--- stdout ---\n${r.stdout}`
}

/** Exit 1 and exactly `line` (after the `harombe-peer: ` prefix) as the whole of stderr. */
function assertFailedWith (r: CliResult, line: string): void {
  assert.equal(r.code, 1, `expected exit 1${explain(r)}`)
  assert.equal(r.stderr.trimEnd(), `harombe-peer: ${line}`, `wrong message${explain(r)}`)
}

describe('e2e: CLI polish (watch, colours, --json, errors)', function () {
  this.timeout(120_000)
  let root: string
  let mock: MockServer
  let a: SpawnedPeer
  const peers: SpawnedPeer[] = []
  const servers: Server[] = []
  const limit = limitConcurrency(3)

  before(async function () {
    root = await mkdtemp(join(tmpdir(), 'harombe-cli-polish-'))
    mock = await startMockOpenAIServer({ behavior: { models: ['small'], tokens: ['small', ' says', ' hi'] } })
    a = await spawnPeer(['--name', 'a', '--backend', 'openai', '--backend-url', mock.url, '--token', TOKEN, '--data-dir', join(root, 'a'), ...MESH])
    peers.push(a)
  })

  after(async function () {
    await Promise.all(peers.map(async p => { await p.stop().catch(() => {}) }))
    await Promise.all(servers.map(async s => { await new Promise(resolve => { s.close(resolve) }) }))
    await mock?.close()
    if (root != null) await rm(root, { recursive: true, force: true })
  })

  describe('status --watch', function () {
    it('should print one JSON line per view change as a peer joins and leaves, then exit 0 on SIGINT', async function () {
      // Its own mesh, so the peer that leaves does not linger in the view the other tests read.
      const w = await spawnPeer(['--name', 'w', '--backend', 'none', '--token', TOKEN, '--data-dir', join(root, 'w'), ...MESH])
      peers.push(w)
      // An interval far beyond the test: every update it sees was pushed by the peer's event stream.
      const watch = startCli(['status', '--watch', '--json', '--interval', '600000', '--api', w.ready.api], PLAIN_ENV)
      let code: number | null
      try {
        await watch.waitFor('first view', out => jsonLines(out).some(cl => cl.peers.some(p => p.self && p.state === 'alive')))
        const b = await spawnPeer(['--name', 'b', '--backend', 'none', '--data-dir', join(root, 'b'), '--bootstrap', w.ready.mesh[0] ?? '', ...MESH])
        peers.push(b)
        const stateOfB = (cl: ClusterJson): string | undefined => cl.peers.find(p => p.peer_id === b.ready.peerId)?.state
        await watch.waitFor('a line with b alive', out => jsonLines(out).some(cl => stateOfB(cl) === 'alive'))
        assert.equal(await b.stop(), 0, `b did not stop cleanly:\n${b.stderrTail()}`)
        await watch.waitFor('a line with b gone', out => {
          const lines = jsonLines(out)
          const joined = lines.findIndex(cl => stateOfB(cl) === 'alive')
          return lines.slice(joined + 1).some(cl => stateOfB(cl) !== 'alive')
        })
      } finally {
        code = await watch.stop('SIGINT')
      }
      assert.equal(code, 0, `exit code after SIGINT${watch.stderr()}`)
      assert.equal(watch.stderr(), '', 'wrote to stderr')
      assert.ok(watch.stdout().endsWith('\n'), 'the last line is unfinished')
      for (const cluster of jsonLines(watch.stdout())) assert.ok(Array.isArray(cluster.peers) && cluster.self.name === 'w', 'a line is not a cluster view')
    })

    it('should say it is reconnecting while the peer is away, show the view when it is back, and never colour a pipe', async function () {
      const port = await closedLoopbackPort()
      const args = ['--name', 'c', '--backend', 'none', '--data-dir', join(root, 'c'), '--no-mdns', '--api-port', String(port), '--listen', '/ip4/127.0.0.1/tcp/0']
      let c = await spawnPeer(args)
      peers.push(c)
      const watch = startCli(['status', '--watch', '--interval', '300', '--api', c.ready.api], PLAIN_ENV)
      let code: number | null
      try {
        await watch.waitFor('a table', out => out.includes(`view of ${c.ready.api}`) && /^c \* /m.test(out))
        assert.equal(await c.stop(), 0, `c did not stop cleanly:\n${c.stderrTail()}`)
        await watch.waitFor('a reconnecting line', out => /reconnecting…/.test(out))
        await watch.waitFor('connection refused while the peer is down', out => out.includes(`no harombe peer at ${c.ready.api} (connection refused) — reconnecting…`))
        c = await spawnPeer(args)
        peers.push(c)
        await watch.waitFor('a table after the reconnect', out => out.slice(out.lastIndexOf('reconnecting…')).includes(`view of ${c.ready.api}`))
      } finally {
        code = await watch.stop('SIGINT')
      }
      assert.equal(code, 0, `exit code after SIGINT${watch.stderr()}`)
      assert.doesNotMatch(watch.stdout(), ANSI, 'escape codes in output to a pipe')
      assert.equal(watch.stderr(), '', 'wrote to stderr')
    })

    it('should keep retrying when no peer is at --api yet, and exit 0 on SIGINT', async function () {
      const api = `http://127.0.0.1:${await closedLoopbackPort()}`
      const watch = startCli(['status', '--watch', '--json', '--api', api], PLAIN_ENV)
      await watch.waitFor('a reconnecting line', (_out, err) => err.includes(`harombe-peer: no harombe peer at ${api} (connection refused) — reconnecting…`))
      assert.equal(await watch.stop('SIGINT'), 0, `exit code after SIGINT${watch.stderr()}`)
      assert.equal(watch.stdout(), '', 'printed a view without a peer')
    })

    it('should fail at once with exit 1 when the peer refuses the token (no retry)', async function () {
      const watch = startCli(['status', '--watch', '--api', a.ready.api], NO_TOKEN_ENV)
      const code = await Promise.race([watch.exited, new Promise<'running'>(resolve => { setTimeout(() => { resolve('running') }, EVENT_BOUND_MS) })])
      if (code === 'running') await watch.stop('SIGKILL')
      assert.equal(code, 1, `expected exit 1${watch.stderr()}`)
      assert.equal(watch.stderr().trimEnd(), `harombe-peer: ${a.ready.api} needs a bearer token (401 unauthorized) — pass --token <token> or set HAROMBE_TOKEN`)
    })
  })

  describe('colours', function () {
    it('should colour state words only with FORCE_COLOR, in columns aligned like the plain table', async function () {
      const [plain, coloured] = await Promise.all([
        runCli(['status', '--api', a.ready.api], { env: PLAIN_ENV }),
        runCli(['status', '--api', a.ready.api], { env: { ...PLAIN_ENV, FORCE_COLOR: '1' } })
      ])
      assert.equal(plain.code, 0, explain(plain))
      assert.equal(coloured.code, 0, explain(coloured))
      assert.doesNotMatch(plain.stdout, ANSI, `escape codes without a TTY${explain(plain)}`)
      assert.match(coloured.stdout, /\x1b\[32malive\x1b\[39m/, `alive is not green${explain(coloured)}`)
      assert.equal(coloured.stdout.replace(/\x1b\[[0-9;]*m/g, ''), plain.stdout)
    })
  })

  describe('--json', function () {
    const json = async (args: string[], cwd?: string): Promise<any> => {
      const r = await limit(async () => await runCli([...args, '--json'], { env: PLAIN_ENV, cwd }))
      assert.equal(r.code, 0, explain(r))
      assert.doesNotMatch(r.stdout, ANSI, `escape codes in JSON${explain(r)}`)
      try {
        return JSON.parse(r.stdout)
      } catch {
        assert.fail(`stdout is not one JSON document${explain(r)}`)
      }
    }

    before(async function () {
      await waitForView(a.ready.api, cl => cl.peers.some(p => p.self && p.models.includes('small')), 'a serving small')
    })

    it('should print the view for `status --json`', async function () {
      const cluster = await json(['status', '--api', a.ready.api])
      assert.equal(cluster.self.name, 'a')
      assert.ok(cluster.peers.some((p: any) => p.self && p.state === 'alive'))
    })

    it('should print the models for `models --json`', async function () {
      const models = await json(['models', '--api', a.ready.api])
      assert.deepEqual(models.map((m: any) => [m.name, m.nodes.map((n: any) => n.name)]), [['small', ['a']]])
    })

    it('should print the report for `test --json`', async function () {
      const report = await json(['test', '--api', a.ready.api])
      assert.equal(report.peers.find((p: any) => p.name === 'a')?.ok, true, JSON.stringify(report))
    })

    it('should print the answer and the peer that served it for `complete --json`', async function () {
      const answer = await json(['complete', 'hello', '--api', a.ready.api])
      assert.equal(answer.message.content, 'small says hi')
      assert.equal(answer.node.name, 'a')
    })

    it('should print the files written for `init --json`', async function () {
      const written = await json(['init', '--output', join(root, 'init', 'cluster.yaml')])
      assert.equal(written.cluster_file, join(root, 'init', 'cluster.yaml'))
      assert.ok(existsSync(written.cluster_file) && existsSync(written.mesh_key_file), JSON.stringify(written))
    })

    it('should print the peers, routing decisions and view for `demo --json`', async function () {
      const demo = await json(['demo'])
      assert.deepEqual(demo.peers.map((p: any) => p.name), ['demo-fast', 'demo-medium', 'demo-powerful'])
      assert.equal(demo.requests.length, 9)
      assert.equal(demo.cluster.peers.filter((p: any) => p.state === 'alive').length, 3)
    })
  })

  describe('errors at --api', function () {
    const commands = [['status'], ['models'], ['test'], ['complete', 'hi']]

    for (const command of commands) {
      it(`should say no peer runs there and how to start one, for \`${command[0]}\` (exit 1)`, async function () {
        const api = `http://127.0.0.1:${await closedLoopbackPort()}`
        const r = await limit(async () => await runCli([...command, '--api', api], { env: PLAIN_ENV }))
        assertFailedWith(r, `no harombe peer at ${api} (connection refused) — start one with \`npx harombe-peer start\` or pass --api <url>`)
      })

      it(`should ask for the token on a 401, for \`${command[0]}\` (exit 1)`, async function () {
        const r = await limit(async () => await runCli([...command, '--api', a.ready.api], { env: NO_TOKEN_ENV }))
        assertFailedWith(r, `${a.ready.api} needs a bearer token (401 unauthorized) — pass --token <token> or set HAROMBE_TOKEN`)
      })

      it(`should say the token was rejected, for \`${command[0]}\` --token wrong (exit 1)`, async function () {
        const r = await limit(async () => await runCli([...command, '--api', a.ready.api, '--token', 'wrong'], { env: NO_TOKEN_ENV }))
        assertFailedWith(r, `${a.ready.api} rejected the bearer token (401 unauthorized) — check --token or HAROMBE_TOKEN`)
      })
    }

    it('should say a peer that accepts but never answers timed out (exit 1)', async function () {
      // Holds every request open: only the CLI's own 5 s bound ends the call.
      const server = createServer(() => {})
      servers.push(server)
      server.listen(0, '127.0.0.1')
      await once(server, 'listening')
      const api = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
      const r = await runCli(['status', '--api', api], { env: PLAIN_ENV })
      assertFailedWith(r, `no answer from ${api} within 5000 ms (timed out) — is the peer overloaded, or is --api the right address?`)
      server.closeAllConnections()
    })
  })
})
