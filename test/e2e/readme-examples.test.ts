// Issue 27: the README's examples run as written against a fresh default peer (`harombe-peer start`
// with no backend options: the embedded tiny model). They are read from README.md itself, so an
// edit there that breaks them fails here. Only what a test must change is changed: the API URL
// (any free port, not 8000) and, for the embedded peer, a loopback mesh without mDNS.
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { startMockOpenAIServer, type MockServer } from '../helpers/mock-openai-server.js'
import { REPO_ROOT, spawnPeer, type SpawnedPeer } from '../helpers/spawn-peer.js'

const run = promisify(execFile)
const README_API = 'http://127.0.0.1:8000'
const TSX = join(REPO_ROOT, 'node_modules', '.bin', 'tsx')

/** The fenced blocks of `lang` in the README section headed `heading` (`# title` or `## section`), up to the next `## `. */
export function readmeBlocks (readme: string, heading: string, lang: string): string[] {
  const start = `\n${readme}`.indexOf(`\n${heading}\n`)
  assert.ok(start >= 0, `README has no "${heading}" heading`)
  const end = readme.indexOf('\n## ', start + heading.length)
  const section = readme.slice(start, end < 0 ? undefined : end)
  return [...section.matchAll(new RegExp('```' + lang + '\\n([\\s\\S]*?)```', 'g'))].map(m => m[1] ?? '')
}

/** `text` with `from` replaced; fails when the README no longer has it (the test would test nothing). */
function replaceOnce (text: string, from: string, to: string): string {
  assert.ok(text.includes(from), `the README example no longer contains ${JSON.stringify(from)}: update this test with it`)
  return text.replace(from, to)
}

describe('e2e: the README\'s examples against a fresh default peer', function () {
  this.timeout(120_000)
  let root: string
  let readme: string
  const peers: SpawnedPeer[] = []
  let mock: MockServer | undefined

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'harombe-readme-'))
    readme = await readFile(join(REPO_ROOT, 'README.md'), 'utf8')
    // The examples import 'harombe-peer' by name, as a user's project does once it is installed.
    await mkdir(join(root, 'node_modules'), { recursive: true })
    await symlink(REPO_ROOT, join(root, 'node_modules', 'harombe-peer'), 'dir')
    // An ES module project (top-level await), as the package is.
    await writeFile(join(root, 'package.json'), JSON.stringify({ type: 'module' }))
  })
  afterEach(async () => {
    await Promise.all(peers.splice(0).map(async p => { await p.stop() }))
    await mock?.close()
    mock = undefined
  })
  after(async () => { await rm(root, { recursive: true, force: true }) })

  /** `harombe-peer start` with only the port, the mesh address and the data dir changed. */
  const startDefaultPeer = async (extra: string[] = []): Promise<SpawnedPeer> => {
    const dataDir = await mkdtemp(join(root, 'peer-'))
    const peer = await spawnPeer(['--api-port', '0', '--listen', '/ip4/127.0.0.1/tcp/0', '--no-mdns', '--data-dir', dataDir, ...extra], {
      env: { HOME: dataDir },
      timeoutMs: 30_000
    })
    peers.push(peer)
    return peer
  }

  /** Runs a TypeScript example in its own directory, importing 'harombe-peer' by name. */
  const runExample = async (code: string, name: string, env: NodeJS.ProcessEnv = {}): Promise<{ stdout: string, stderr: string }> => {
    const file = join(root, `${name}.ts`)
    await writeFile(file, code)
    return await run(TSX, [file], { cwd: root, env: { ...process.env, ...env }, timeout: 100_000 })
  }

  it('should answer the quick start\'s curl with a chat completion from harombe-tiny', async () => {
    const curl = readmeBlocks(readme, '# harombe-peer', 'sh').find(b => b.startsWith('curl '))
    assert.ok(curl != null, 'the quick start has a curl example')
    const peer = await startDefaultPeer()
    const { stdout } = await run('bash', ['-c', replaceOnce(curl, README_API, peer.ready.api)], { timeout: 60_000 })
    const body = JSON.parse(stdout)
    assert.equal(body.object, 'chat.completion')
    assert.equal(body.model, 'harombe-tiny')
    assert.ok(body.choices[0].message.content.length > 0, 'some text')
    // The tiny model never stops: its own default bounds an answer without max_tokens (README says 256).
    assert.deepEqual([body.choices[0].finish_reason, body.usage.completion_tokens], ['length', 256])
  })

  describe('"Use it from code"', () => {
    let remote: string
    let embedded: string

    before(() => {
      const blocks = readmeBlocks(readme, '## Use it from code', 'ts')
      assert.equal(blocks.length, 2, 'two examples: a remote peer, an embedded peer')
      remote = blocks[0] ?? ''
      embedded = blocks[1] ?? ''
    })

    it('should run the remote example against the default peer: the tiny model answers without a tool call', async () => {
      const peer = await startDefaultPeer()
      const { stdout, stderr } = await runExample(replaceOnce(remote, README_API, peer.ready.api), 'remote-default')
      assert.match(stdout, new RegExp(`\\(served by ${peer.ready.name}\\)\\n$`), `stdout:\n${stdout}\nstderr:\n${stderr}`)
    })

    it('should run the remote example\'s tool branch (a model that calls the tool, then a streamed answer)', async () => {
      // The tiny model never calls tools, so this branch needs a model that does: a mock server
      // behind an openai backend, which calls current_time once, then answers from its result.
      mock = await startMockOpenAIServer({ behavior: { models: ['tool-model'], toolCalls: [{ arguments: '{"timezone":"Asia/Tokyo"}' }] } })
      const peer = await startDefaultPeer(['--backend', 'openai', '--backend-url', mock.url])
      const { stdout, stderr } = await runExample(replaceOnce(remote, README_API, peer.ready.api), 'remote-tool')
      assert.match(stdout, /The tool said: /, `the streamed answer from the tool's result:\nstdout:\n${stdout}\nstderr:\n${stderr}`)
      assert.match(stdout, new RegExp(`\\nserved by ${peer.ready.name} \\(tool-model\\)\\n$`))
      const chats = mock.chatRequests()
      assert.equal(chats.length, 2, 'one turn for the tool call, one for the answer')
      assert.equal(chats[1]?.body.messages.at(-1).role, 'tool')
    })

    it('should run the embedded example: a peer in the process answers through peer.client()', async () => {
      const home = await mkdtemp(join(root, 'home-'))
      // Tests stay on loopback without mDNS; everything else is the README's code.
      const code = replaceOnce(embedded, 'apiPort: 0,', 'apiPort: 0, listen: [\'/ip4/127.0.0.1/tcp/0\'], mdns: false,')
      const { stdout, stderr } = await runExample(code, 'embedded', { HOME: home })
      assert.match(stdout, /\(served by my-agent\)\n$/, `stdout:\n${stdout}\nstderr:\n${stderr}`)
    })
  })
})
