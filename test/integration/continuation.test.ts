import assert from 'node:assert/strict'
import { createCluster, MODEL, ndjson, postJson, sseData, type ClusterNode, type NodeSpec } from '../helpers/cluster.js'
import type { RecordedRequest } from '../helpers/mock-llm.js'
import { waitForView } from '../helpers/wait.js'

// Issue 14: an answer survives the death of the peer writing it. Real peers in one process, each
// on its own paced mock upstream (OpenAI or Ollama flavour) that records every request. The
// entry peer has no backend; the victim (tier 1) is chosen first, the heir (tier 0) continues.

const VICTIM_TOKENS = Array.from({ length: 40 }, (_, i) => ` v${i}`)
const HEIR_TOKENS = [' and', ' the', ' heir', ' ends', '.']
/** Deltas the client must have before the victim is killed. */
const BEFORE_KILL = 3

type Flavor = 'openai' | 'ollama'

function specs (flavor: Flavor, heir: Partial<NodeSpec> = {}): NodeSpec[] {
  return [
    { name: 'entry', backend: 'none' },
    { name: 'victim', tier: 1, backend: flavor, behavior: { tokens: VICTIM_TOKENS, tokenDelayMs: 25 } },
    { name: 'heir', tier: 0, backend: flavor, ...heir, behavior: { tokens: HEIR_TOKENS, ...heir.behavior } }
  ]
}

/** The heir's chat request: it must end with one assistant message holding the delivered text. */
function lastChat (node: ClusterNode): RecordedRequest | undefined {
  return node.mock?.chatRequests().at(-1)
}

/** Reads a streamed body, calling `onText` with everything so far after each chunk. */
async function readAll (res: Response, onText: (text: string) => void): Promise<string> {
  const reader = res.body?.getReader()
  if (reader == null) throw new Error('no body')
  const decoder = new TextDecoder()
  let text = ''
  for (;;) {
    const { done, value } = await reader.read()
    if (done) return text + decoder.decode()
    text += decoder.decode(value, { stream: true })
    onText(text)
  }
}

/** Reads the whole streamed body, crashing `victim` once `countDeltas` of what arrived reaches BEFORE_KILL. */
async function readKilling (res: Response, victim: ClusterNode, countDeltas: (text: string) => number): Promise<string> {
  let killed = false
  const text = await readAll(res, so => {
    if (!killed && countDeltas(so) >= BEFORE_KILL) {
      killed = true
      void victim.peer.crash()
    }
  })
  assert.ok(killed, 'the victim was killed mid-stream')
  return text
}

/** The victim's tokens (` v0`, ` v1`…) in a text. */
const victimTokens = (text: string): number => text.split(' v').length - 1

/** Victim deltas in an OpenAI SSE body so far. */
const openaiDeltas = (so: string): number => victimTokens(openaiText(so).content)

/** A request whose last message is a tool result: the mocks answer it in text, so the victim streams it. */
const TOOLS = [{ type: 'function', function: { name: 'lookup', parameters: { type: 'object', properties: {} } } }]
const AFTER_TOOL_CALL = [
  { role: 'user', content: 'look it up' },
  { role: 'assistant', content: null, tool_calls: [{ id: 'c1', type: 'function', function: { name: 'lookup', arguments: '{}' } }] },
  { role: 'tool', tool_call_id: 'c1', content: 'x' }
]
/** The cluster where the victim streams its long answer to a tool result too. */
const victimAnswersTools = (): NodeSpec[] => specs('openai').map(s => s.name === 'victim' ? { ...s, behavior: { ...s.behavior, answerTool: () => VICTIM_TOKENS } } : s)

const openaiText = (body: string): { content: string, finish: unknown[], usage: any, errors: unknown[], ids: Set<string>, done: boolean } => {
  const data = sseData(body)
  const chunks = data.filter(d => d !== '[DONE]').map(d => JSON.parse(d))
  return {
    content: chunks.flatMap(c => c.choices ?? []).map((c: any) => c.delta?.content ?? '').join(''),
    finish: chunks.flatMap(c => c.choices ?? []).map((c: any) => c.finish_reason).filter((f: unknown) => f != null),
    usage: chunks.find(c => c.usage != null)?.usage,
    errors: chunks.filter(c => c.error != null),
    ids: new Set(chunks.map(c => c.id)),
    done: data.at(-1) === '[DONE]'
  }
}

describe('continuation: an answer handed to another peer when its peer dies mid-stream', function () {
  this.timeout(30_000)
  const cluster = createCluster()
  afterEach(async () => { await cluster.stop() })

  /** Starts the three peers, sends `body` to `path` on the entry peer, crashes the victim after BEFORE_KILL deltas. */
  async function killMidStream (flavor: Flavor, path: string, body: Record<string, unknown>, countDeltas: (text: string) => number, heir: Partial<NodeSpec> = {}): Promise<{ text: string, victim: ClusterNode, heirNode: ClusterNode }> {
    const [entry, victim, heirNode] = await cluster.start(specs(flavor, heir))
    if (entry == null || victim == null || heirNode == null) throw new Error('cluster did not start')
    const res = await postJson(`${entry.api}${path}`, { model: MODEL, tier: 1, stream: true, ...body }, { timeoutMs: 20_000 })
    assert.equal(res.status, 200)
    assert.equal(res.headers.get('x-harombe-node'), 'victim', 'the first peer is the one the header names')
    return { text: await readKilling(res, victim, countDeltas), victim, heirNode }
  }

  for (const echo of [false, true]) {
    it(`should continue an OpenAI SSE stream on the heir with the delivered prefix${echo ? ' (a server that echoes the prefix, as llama-server does)' : ''}`, async () => {
      const { text, heirNode } = await killMidStream('openai', '/v1/chat/completions', { messages: [{ role: 'user', content: 'count' }], stream_options: { include_usage: true } },
        openaiDeltas, { behavior: { echoPrefix: echo } })
      const answer = openaiText(text)
      assert.equal(answer.errors.length, 0, `no error event: ${text}`)
      assert.ok(answer.done, 'the stream ends with [DONE]')
      const chat = lastChat(heirNode)
      const messages = chat?.body?.messages as Array<{ role: string, content: string }>
      const prefix = messages.at(-1)
      assert.equal(prefix?.role, 'assistant', 'the heir got a trailing assistant message')
      assert.ok((prefix?.content ?? '').length > 0)
      assert.ok(VICTIM_TOKENS.join('').startsWith(prefix?.content ?? '\u0000'), 'the prefix is what the victim wrote')
      assert.equal(chat?.body?.continue_final_message, true)
      assert.equal(chat?.body?.add_generation_prompt, false)
      assert.equal(answer.content, (prefix?.content ?? '') + HEIR_TOKENS.join(''), 'delivered prefix + continuation, nothing twice, nothing missing')
      assert.deepEqual(answer.finish, ['stop'], 'one finish_reason')
      assert.equal(answer.ids.size, 1, 'one id')
      const delivered = victimTokens(prefix?.content ?? '')
      assert.equal(answer.usage?.completion_tokens, delivered + HEIR_TOKENS.length, 'completion tokens of both attempts')
    })
  }

  it('should continue an Ollama NDJSON stream the same way', async () => {
    const count = (so: string): number => victimTokens(ndjson(so.slice(0, so.lastIndexOf('\n') + 1)).map((l: any) => l.message?.content ?? '').join(''))
    const { text, heirNode } = await killMidStream('ollama', '/api/chat', { messages: [{ role: 'user', content: 'count' }] }, count)
    const lines = ndjson(text)
    assert.equal(lines.filter((l: any) => l.error != null).length, 0, `no error line: ${text}`)
    const final = lines.at(-1)
    assert.equal(final?.done, true)
    assert.equal(final?.done_reason, 'stop')
    const prefix = (lastChat(heirNode)?.body?.messages as Array<{ role: string, content: string }>).at(-1)
    assert.equal(prefix?.role, 'assistant')
    const content = lines.map((l: any) => l.message?.content ?? '').join('')
    assert.equal(content, (prefix?.content ?? '') + HEIR_TOKENS.join(''))
    assert.equal(final?.eval_count, victimTokens(prefix?.content ?? '') + HEIR_TOKENS.length)
  })

  it('should continue a harombe /api/complete stream and say who finished it', async () => {
    const count = (so: string): number => ndjson(so.slice(0, so.lastIndexOf('\n') + 1)).filter((l: any) => l.type === 'delta').length
    const { text } = await killMidStream('openai', '/api/complete', { messages: [{ role: 'user', content: 'count' }] }, count)
    const lines = ndjson(text)
    const done = lines.at(-1)
    assert.equal(done?.type, 'done', text)
    const streamed = lines.filter((l: any) => l.type === 'delta').map((l: any) => l.content).join('')
    assert.equal(done?.message?.content, streamed)
    assert.ok(streamed.endsWith(HEIR_TOKENS.join('')))
    assert.equal(done?.node?.name, 'heir')
  })

  it('should continue a non-streamed answer too', async () => {
    const [entry, victim, heirNode] = await cluster.start(specs('openai'))
    if (entry == null || victim == null || heirNode == null) throw new Error('cluster did not start')
    const pending = postJson(`${entry.api}/v1/chat/completions`, { model: MODEL, tier: 1, messages: [{ role: 'user', content: 'count' }] }, { timeoutMs: 20_000 })
    await new Promise(resolve => setTimeout(resolve, 25 * 8))
    await victim.peer.crash()
    const res = await pending
    assert.equal(res.status, 200)
    const body = await res.json() as any
    const prefix = (lastChat(heirNode)?.body?.messages as Array<{ role: string, content: string }>).at(-1)
    assert.equal(prefix?.role, 'assistant', 'handed over with the text the victim had streamed')
    assert.equal(body.choices[0].message.content, (prefix?.content ?? '') + HEIR_TOKENS.join(''))
  })

  it('should never continue on a peer serving another model, and end the stream with the error', async () => {
    const { text, heirNode } = await killMidStream('openai', '/v1/chat/completions', { messages: [{ role: 'user', content: 'count' }] },
      openaiDeltas, { behavior: { models: ['other-model'] } })
    const answer = openaiText(text)
    assert.equal(answer.errors.length, 1, 'the stream ends with an error event')
    assert.equal(heirNode.mock?.chatRequests().length, 0, 'the peer with another model got nothing')
  })

  for (const same of [true, false]) {
    it(`should ${same ? '' : 'never '}continue on a peer whose model has ${same ? 'the same' : 'another'} digest`, async () => {
      const digest = (c: string): Record<string, string> => ({ [MODEL]: `sha256:${c.repeat(64)}` })
      const [entry, victim, heirNode] = await cluster.start(specs('ollama', { behavior: { digests: digest(same ? 'a' : 'b') } })
        .map(s => s.name === 'victim' ? { ...s, behavior: { ...s.behavior, digests: digest('a') } } : s))
      if (entry == null || victim == null || heirNode == null) throw new Error('cluster did not start')
      // Digests are announced with the models: wait until the entry peer has both
      await waitForView(entry.peer, cl => cl.peers.filter(p => p.name !== 'entry' && p.models.includes(MODEL)).length === 2, 5_000, 'both serving')
      const res = await postJson(`${entry.api}/api/chat`, { model: MODEL, tier: 1, messages: [{ role: 'user', content: 'count' }] }, { timeoutMs: 20_000 })
      const text = await readKilling(res, victim, so => ndjson(so.slice(0, so.lastIndexOf('\n') + 1)).length)
      const lines = ndjson(text)
      assert.equal(lines.some((l: any) => l.error != null), !same, text)
      assert.equal(heirNode.mock?.chatRequests().length, same ? 1 : 0)
    })
  }

  it('should not continue when the request says x-harombe-continue: off', async () => {
    const [entry, victim, heirNode] = await cluster.start(specs('openai'))
    if (entry == null || victim == null || heirNode == null) throw new Error('cluster did not start')
    const res = await postJson(`${entry.api}/v1/chat/completions`, { model: MODEL, tier: 1, stream: true, messages: [{ role: 'user', content: 'count' }] }, { timeoutMs: 20_000, headers: { 'x-harombe-continue': 'off' } })
    const text = await readKilling(res, victim, openaiDeltas)
    assert.equal(openaiText(text).errors.length, 1, 'ends with the error, as asked')
    assert.equal(heirNode.mock?.chatRequests().length, 0)
  })

  it('should end a stream of a request with tools with the error (tool calls are never continued)', async () => {
    const [entry, victim, heirNode] = await cluster.start(victimAnswersTools())
    if (entry == null || victim == null || heirNode == null) throw new Error('cluster did not start')
    const res = await postJson(`${entry.api}/v1/chat/completions`, { model: MODEL, tier: 1, stream: true, messages: AFTER_TOOL_CALL, tools: TOOLS }, { timeoutMs: 20_000 })
    const text = await readKilling(res, victim, openaiDeltas)
    assert.equal(openaiText(text).errors.length, 1)
    assert.equal(heirNode.mock?.chatRequests().length, 0)
  })

  it('should start a whole (non-streamed) answer over on another peer when it cannot be continued (a request with tools)', async () => {
    const [entry, victim, heirNode] = await cluster.start(victimAnswersTools())
    if (entry == null || victim == null || heirNode == null) throw new Error('cluster did not start')
    const pending = postJson(`${entry.api}/v1/chat/completions`, { model: MODEL, tier: 1, messages: AFTER_TOOL_CALL, tools: TOOLS }, { timeoutMs: 20_000 })
    await new Promise(resolve => setTimeout(resolve, 25 * 8))
    await victim.peer.crash()
    const res = await pending
    assert.equal(res.status, 200)
    const body = await res.json() as any
    assert.equal(body.choices[0].message.content, 'The tool said: x', 'the heir answered from the start')
    assert.equal((lastChat(heirNode)?.body?.messages as Array<{ role: string }>).at(-1)?.role, 'tool', 'no prefix: started over')
  })
})
