// examples/agent.ts, run the way the README says (`npm run example -- <api-url>`), against a real
// peer whose mock upstream calls the example's tool once and then answers from its result.
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { createBackend, createPeer, silentLogger, type Peer } from 'harombe-peer'
import { startMockOpenAIServer, type MockServer } from '../helpers/mock-openai-server.js'
import { REPO_ROOT } from '../helpers/spawn-peer.js'

const run = promisify(execFile)
const MODEL = 'agent-model'
const TOKEN = 'example-token'

describe('examples/agent.ts', function () {
  this.timeout(60_000)
  let root: string
  let mock: MockServer
  let peer: Peer
  let api: string

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'harombe-example-'))
    mock = await startMockOpenAIServer({ behavior: { models: [MODEL], toolCalls: [{ arguments: '{"timezone":"Asia/Tokyo"}' }] } })
    const backend = await createBackend({ backend: 'openai', backendUrl: mock.url, dataDir: root, logger: silentLogger() })
    peer = createPeer({ name: 'example-peer', dataDir: root, backend, token: TOKEN, apiPort: 0, listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, profile: 'test' })
    api = (await peer.start()).apiUrl
  })
  afterEach(async () => {
    await peer?.crash()
    await mock?.close()
    await rm(root, { recursive: true, force: true })
  })

  it('should stream, run the tool the model calls, and print the final answer and who served it', async () => {
    const { stdout } = await run('npm', ['run', '--silent', 'example', '--', api, 'What time is it in Tokyo?'], {
      cwd: REPO_ROOT,
      env: { ...process.env, HAROMBE_TOKEN: TOKEN, HAROMBE_MODEL: MODEL },
      timeout: 50_000
    })
    assert.match(stdout, new RegExp(`^models: ${MODEL} \\(example-peer\\)$`, 'm'))
    const toolLine = /^tool current_time\(\{"timezone":"Asia\/Tokyo"\}\) -> (.*)$/m.exec(stdout)
    assert.ok(toolLine?.[1] != null, `the tool ran:\n${stdout}`)
    const result = JSON.parse(toolLine[1])
    assert.equal(result.timezone, 'Asia/Tokyo')
    assert.equal(typeof result.time, 'string')
    // The mock answers a tool result with "The tool said: <result>", streamed.
    assert.ok(stdout.includes(`The tool said: ${toolLine[1]}`), `the answer from the tool's result:\n${stdout}`)
    assert.match(stdout, new RegExp(`^served by example-peer \\(tier 0, ${MODEL}, \\d+ tokens\\)$`, 'm'))

    const chats = mock.chatRequests()
    assert.equal(chats.length, 2, 'one turn for the tool call, one for the answer')
    assert.deepEqual(chats[1]?.body.messages.at(-1), { role: 'tool', tool_call_id: chats[1]?.body.messages.at(-2).tool_calls[0].id, name: 'current_time', content: toolLine[1] })
  })

  it('should say what to do about a wrong token, and exit 1', async () => {
    const err = await run('npm', ['run', '--silent', 'example', '--', api], { cwd: REPO_ROOT, env: { ...process.env, HAROMBE_TOKEN: 'wrong' }, timeout: 50_000 })
      .then(() => assert.fail('the example succeeded with a wrong token'), (e: { code?: number, stderr?: string }) => e)
    assert.equal(err.code, 1)
    assert.match(err.stderr ?? '', /answered 401: missing or wrong bearer token: set HAROMBE_TOKEN/)
  })
})
