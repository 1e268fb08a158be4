// The package as a user imports it: by its own name, through the `exports` map (dist/, built by
// `pretest`), never by a relative path. One contract runs against both LlmClients — a peer's HTTP
// API (createRemoteClient) and a peer in this process (peer.client()) — since agent code must
// not care which one it holds.
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  AbortedError,
  createBackend,
  createPeer,
  createRemoteClient,
  silentLogger,
  TimeoutError,
  UnauthorizedError,
  UnknownModelError,
  type ChatMessage,
  type CompletionAnswer,
  type LlmClient,
  type Peer,
  type StreamEvent,
  type ToolDefinition
} from 'harombe-peer'
import { startMockOpenAIServer, type MockServer } from '../helpers/mock-openai-server.js'

const MODEL = 'lib-model'
const TOKENS = ['Hello', ' from', ' the', ' library']
const TOKEN = 'library-test-token'
const TIME_TOOL: ToolDefinition = {
  type: 'function',
  function: { name: 'current_time', parameters: { type: 'object', properties: { timezone: { type: 'string' } } } }
}
/** What the mock calls the tool with; it answers a tool result with `The tool said: <result>`. */
const CALL_ARGS = { timezone: 'UTC' }
const TOOL_RESULT = '{"time":"12:00"}'

interface Harness {
  peer: Peer
  mock: MockServer
  api: string
}

/** A mock OpenAI-compatible upstream and one peer on it (token-protected API, 127.0.0.1 only). */
async function startPeer (dataDir: string): Promise<Harness> {
  const mock = await startMockOpenAIServer({ behavior: { models: [MODEL], tokens: TOKENS, toolCalls: [{ arguments: JSON.stringify(CALL_ARGS) }] } })
  const backend = await createBackend({ backend: 'openai', backendUrl: mock.url, dataDir, logger: silentLogger() })
  const peer = createPeer({ name: 'lib', dataDir, backend, token: TOKEN, apiPort: 0, listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, profile: 'test' })
  const { apiUrl } = await peer.start()
  return { peer, mock, api: apiUrl }
}

const ask = (content = 'hi', fields: Record<string, unknown> = {}): { messages: ChatMessage[], model: string } => ({ messages: [{ role: 'user', content }], model: MODEL, ...fields })

async function collect (events: AsyncIterable<StreamEvent>): Promise<StreamEvent[]> {
  const all: StreamEvent[] = []
  for await (const event of events) all.push(event)
  return all
}

/** The error a promise rejects with; fails the test when it resolves. */
async function failure (promise: Promise<unknown>): Promise<Error> {
  try {
    await promise
  } catch (err) {
    return err as Error
  }
  assert.fail('expected the call to fail')
}

/** The contract every LlmClient keeps, whatever transport `makeClient` gives it. */
function llmClientContract (makeClient: (h: Harness) => LlmClient): void {
  let root: string
  let h: Harness
  let client: LlmClient

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'harombe-lib-'))
    h = await startPeer(root)
    client = makeClient(h)
  })
  afterEach(async () => {
    await client?.close()
    await h?.peer.crash()
    await h?.mock.close()
    await rm(root, { recursive: true, force: true })
  })

  it('should complete, saying which peer served', async () => {
    const answer = await client.complete(ask(), { signal: AbortSignal.timeout(10_000) })
    assert.equal(answer.message.content, TOKENS.join(''))
    assert.equal(answer.finish_reason, 'stop')
    assert.equal(answer.model, MODEL)
    assert.equal(answer.usage.completion_tokens, TOKENS.length)
    assert.equal(answer.node.name, 'lib')
  })

  it('should round-trip a tool call (tool_calls → tool message → answer)', async () => {
    const messages: ChatMessage[] = [{ role: 'user', content: 'What time is it?' }]
    const first = await client.complete({ messages, tools: [TIME_TOOL], model: MODEL })
    assert.equal(first.finish_reason, 'tool_calls')
    const call = first.message.tool_calls?.[0]
    assert.ok(call != null, `a tool call: ${JSON.stringify(first.message)}`)
    assert.equal(call.function.name, 'current_time')
    assert.deepEqual(JSON.parse(call.function.arguments), CALL_ARGS)

    messages.push({ role: 'assistant', content: first.message.content, tool_calls: [call] })
    messages.push({ role: 'tool', tool_call_id: call.id, name: call.function.name, content: TOOL_RESULT })
    const final = await client.complete({ messages, tools: [TIME_TOOL], model: MODEL })
    assert.equal(final.finish_reason, 'stop')
    assert.equal(final.message.content, `The tool said: ${TOOL_RESULT}`)
  })

  it('should stream deltas, then end with exactly one final answer', async () => {
    const events = await collect(client.stream(ask()))
    const deltas = events.filter(e => e.type === 'delta').map(e => e.content)
    assert.equal(deltas.join(''), TOKENS.join(''))
    assert.ok(deltas.length > 1, `several deltas: ${JSON.stringify(deltas)}`)
    const last = events.at(-1)
    assert.equal(last?.type, 'done', 'the last event is the answer')
    assert.equal(events.filter(e => e.type === 'done').length, 1)
    const answer = (last as { answer: CompletionAnswer }).answer
    assert.equal(answer.message.content, TOKENS.join(''))
    assert.equal(answer.node.name, 'lib')
  })

  it('should stop the generation when the loop is left early', async () => {
    h.mock.setBehavior({ tokens: Array.from({ length: 200 }, (_, i) => ` t${i}`), tokenDelayMs: 20 })
    for await (const event of client.stream(ask())) {
      assert.equal(event.type, 'delta')
      break
    }
    // The upstream saw its client leave: the abort reached the generating backend.
    await h.mock.waitForAbort(1, 5_000)
  })

  it('should fail an unknown model with UnknownModelError carrying the peer\'s message', async () => {
    const err = await failure(client.complete(ask('hi', { model: 'no-such-model' })))
    assert.ok(err instanceof UnknownModelError, `${err.name}: ${err.message}`)
    assert.equal(err.name, 'UnknownModelError')
    assert.match(err.message, /no-such-model/)
    assert.equal(h.mock.chatRequests().length, 0, 'nothing reached the backend')
  })

  it('should name the caller\'s signal: TimeoutError for a timeout, AbortedError for an abort', async () => {
    h.mock.setBehavior({ firstTokenDelayMs: 10_000 })
    const timedOut = await failure(client.complete(ask(), { signal: AbortSignal.timeout(200) }))
    assert.ok(timedOut instanceof TimeoutError, `timeout: ${timedOut.name}: ${timedOut.message}`)
    const controller = new AbortController()
    const pending = client.complete(ask(), { signal: controller.signal })
    await waitForChat(h.mock)
    controller.abort()
    const aborted = await failure(pending)
    assert.ok(aborted instanceof AbortedError, `abort: ${aborted.name}: ${aborted.message}`)
  })

  it('should close with `await using`, aborting calls in flight and refusing new ones', async () => {
    h.mock.setBehavior({ tokens: Array.from({ length: 200 }, (_, i) => ` t${i}`), tokenDelayMs: 20 })
    let kept: LlmClient | undefined
    let inFlight: Promise<unknown> | undefined
    {
      await using scoped = makeClient(h)
      kept = scoped
      assert.deepEqual((await scoped.models()).map(m => m.name), [MODEL])
      inFlight = scoped.complete(ask())
      inFlight.catch(() => {})
      await waitForChat(h.mock)
    }
    const aborted = await failure(inFlight)
    assert.ok(aborted instanceof AbortedError, `in flight: ${aborted.name}: ${aborted.message}`)
    await h.mock.waitForAbort(1, 5_000)
    const refused = await failure(kept.models())
    assert.ok(refused instanceof AbortedError, `after close: ${refused.name}: ${refused.message}`)
    assert.match(refused.message, /closed/)
  })

  it('should list the models with the peers serving them, and the cluster view', async () => {
    assert.deepEqual(await client.models(), [{ name: MODEL, nodes: [{ name: 'lib', peer_id: h.peer.info().peerId, tier: 0 }] }])
    const cluster = await client.cluster()
    assert.equal(cluster.self.peer_id, h.peer.info().peerId)
  })
}

/** Resolves once the mock is generating a chat answer. */
async function waitForChat (mock: MockServer): Promise<void> {
  const deadline = Date.now() + 5_000
  while (mock.active === 0) {
    if (Date.now() > deadline) throw new Error('the completion never reached the backend')
    await new Promise(resolve => setTimeout(resolve, 10))
  }
}

describe('the package (import from \'harombe-peer\')', function () {
  this.timeout(30_000)

  describe('createRemoteClient against a peer\'s HTTP API', () => {
    llmClientContract(h => createRemoteClient({ baseUrl: h.api, token: TOKEN }))

    describe('a wrong token', () => {
      let root: string
      let h: Harness
      beforeEach(async () => {
        root = await mkdtemp(join(tmpdir(), 'harombe-lib-'))
        h = await startPeer(root)
      })
      afterEach(async () => {
        await h?.peer.crash()
        await h?.mock.close()
        await rm(root, { recursive: true, force: true })
      })

      it('should fail with UnauthorizedError (401, not retryable) carrying the peer\'s message', async () => {
        await using client = createRemoteClient({ baseUrl: h.api, token: 'wrong' })
        const err = await failure(client.complete(ask()))
        assert.ok(err instanceof UnauthorizedError, `${err.name}: ${err.message}`)
        assert.equal(err.name, 'UnauthorizedError')
        assert.equal(err.status, 401)
        assert.equal(err.retryable, false)
        assert.match(err.message, /missing or wrong bearer token/)
        assert.equal(h.mock.chatRequests().length, 0, 'nothing reached the backend')
      })
    })
  })

  describe('peer.client() on a peer embedded in this process', () => {
    llmClientContract(h => h.peer.client())

    it('should leave the peer running when a client is closed', async () => {
      const root = await mkdtemp(join(tmpdir(), 'harombe-lib-'))
      const h = await startPeer(root)
      try {
        await h.peer.client().close()
        const answer = await h.peer.client().complete(ask())
        assert.equal(answer.message.content, TOKENS.join(''))
      } finally {
        await h.peer.crash()
        await h.mock.close()
        await rm(root, { recursive: true, force: true })
      }
    })
  })
})
