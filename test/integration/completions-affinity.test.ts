import assert from 'node:assert/strict'
import OpenAI from 'openai'
import { Ollama } from 'ollama'
import { createCluster, MODEL, postJson, type ClusterNode, type NodeSpec } from '../helpers/cluster.js'
import { pollUntil } from '../helpers/wait.js'

// Issue 23 across real peers in one process: routing-only entry peers in front of serving peers
// whose OpenAI-compatible mocks answer with their own name. The policy itself is table-tested
// (route-affinity.test.ts, prefix-index.test.ts); here: that the entry peer learns from what it
// sends, and that affinity never costs an answer.

/** A distinct system prompt of ~1,000 characters per agent: long enough for many index blocks. */
function systemPrompt (agent: string): string {
  return `You are agent ${agent}. ` + `Follow the house rules for ${agent} with care; answer briefly and cite your sources. `.repeat(12)
}

interface Turn {
  node: string
  answer: string
}

/** One chat turn through `entry`: the whole conversation so far, as an agent sends it. */
async function send (entry: ClusterNode, messages: Array<{ role: string, content: string }>, fields: Record<string, unknown> = {}, headers: Record<string, string> = {}): Promise<Turn> {
  const res = await postJson(`${entry.api}/v1/chat/completions`, { model: MODEL, messages, ...fields }, { headers, timeoutMs: 15_000 })
  assert.equal(res.status, 200, await res.clone().text())
  const body = await res.json() as any
  return { node: res.headers.get('x-harombe-node') ?? '?', answer: body.choices[0].message.content }
}

/** Three turns of one conversation; returns who served each. */
async function conversation (entry: ClusterNode, agent: string, turns = 3): Promise<string[]> {
  const messages = [{ role: 'system', content: systemPrompt(agent) }]
  const served: string[] = []
  for (let t = 1; t <= turns; t++) {
    messages.push({ role: 'user', content: `turn ${t} of ${agent}: what next?` })
    const turn = await send(entry, messages)
    served.push(turn.node)
    messages.push({ role: 'assistant', content: turn.answer })
  }
  return served
}

async function routeReasons (entry: ClusterNode, limit: number): Promise<string[]> {
  const res = await fetch(`${entry.api}/api/requests?limit=${limit}`)
  const body = await res.json() as { requests: Array<{ route_reason?: string }> }
  return body.requests.map(r => r.route_reason ?? '').reverse()
}

/** How long a peer's announced load may lag behind its real load (probe acks and announcements, ~1 s apart). */
const LOAD_UPDATE_LAG_MS = 1_200

const serving = (names: string[], fields: Partial<NodeSpec> = {}): NodeSpec[] => names.map(name => ({ name, capacity: 1, ...fields }))

describe('affinity routing across real peers', function () {
  this.timeout(40_000)
  const cluster = createCluster()
  afterEach(async () => { await cluster.stop() })

  it('should keep each 3-turn conversation on one serving peer, warm from its second turn', async () => {
    const [a] = await cluster.start([{ name: 'a', backend: 'none' }, ...serving(['b', 'c', 'd'])])
    if (a == null) throw new Error('cluster did not start')
    const agents = ['alpha', 'beta', 'gamma', 'delta']
    const runs = await Promise.all(agents.map(async agent => await conversation(a, agent)))
    for (const [i, served] of runs.entries()) {
      assert.equal(new Set(served).size, 1, `${agents[i] ?? '?'} moved: ${served.join(' → ')}`)
    }
    const reasons = await routeReasons(a, 12)
    assert.equal(reasons.filter(r => /^prefix [\d,]+ of [\d,]+ chars warm on [bcd]/.test(r)).length, 8, `follow-ups were routed as warm:\n${reasons.join('\n')}`)
  })

  it('should send the same system prompt from two entry peers that never talked to the same peer', async () => {
    const [a1, a2] = await cluster.start([{ name: 'a1', backend: 'none' }, { name: 'a2', backend: 'none' }, ...serving(['b', 'c', 'd'])])
    if (a1 == null || a2 == null) throw new Error('cluster did not start')
    // Bounded load skips a busy peer: neither entry peer may still see the load of the previous
    // request, which announcements show for up to a second after it ended (the announced load's lag).
    // Idle twice, a load update's lag apart: a late update of the previous request's load (b busy,
    // reaching a2 after it first looked idle) made a2 skip the rendezvous peer in about 1 run in 4.
    const idle = async (): Promise<void> => {
      const looksIdle = async (): Promise<void> => {
        for (const entry of [a1, a2]) await pollUntil(() => entry.peer.cluster().peers.every(p => p.load.active + p.load.queued === 0), 5_000, `an idle mesh as ${entry.name} sees it`)
      }
      await looksIdle()
      await new Promise(resolve => setTimeout(resolve, LOAD_UPDATE_LAG_MS))
      await looksIdle()
    }
    // Several agents, so agreeing by chance (1 in 3 each) cannot pass the test.
    for (const agent of ['alpha', 'beta', 'gamma', 'delta', 'epsilon']) {
      await idle()
      const one = await send(a1, [{ role: 'system', content: systemPrompt(agent) }, { role: 'user', content: 'from the first entry peer' }])
      await idle()
      const two = await send(a2, [{ role: 'system', content: systemPrompt(agent) }, { role: 'user', content: 'from the second, a different question' }])
      if (two.node !== one.node) {
        const why: string = `a1 → ${one.node} (${(await routeReasons(a1, 1))[0] ?? '?'}), a2 → ${two.node} (${(await routeReasons(a2, 1))[0] ?? '?'})`
        assert.fail(`${agent}: the entry peers disagree: ${why}`)
      }
    }
    assert.match((await routeReasons(a2, 1))[0] ?? '', /^rendezvous on system prompt/)
  })

  it('should give an overloaded warm peer\'s next turn to an idle cold one', async () => {
    const [a, b, c] = await cluster.start([{ name: 'a', backend: 'none' }, ...serving(['b', 'c'])])
    if (a == null || b == null || c == null) throw new Error('cluster did not start')
    const messages = [{ role: 'system', content: systemPrompt('alpha') }, { role: 'user', content: 'turn 1' }]
    const first = await send(a, messages)
    const warm = first.node === 'b' ? b : c
    const cold = warm === b ? c : b
    // Two slow requests pinned to the warm peer through the same entry peer: 2 in flight on one slot.
    warm.mock?.setBehavior({ firstTokenDelayMs: 5_000 })
    const hold = new AbortController()
    const pinned = [1, 2].map(async i => await postJson(`${a.api}/api/complete`, { messages: [{ role: 'user', content: `busy ${i}` }], peer: warm.name }, { signal: hold.signal, timeoutMs: 20_000 }).catch(() => undefined))
    try {
      await pollUntil(() => (warm.mock?.active ?? 0) >= 1, 5_000, 'the warm peer busy')
      const second = await send(a, [...messages, { role: 'assistant', content: first.answer }, { role: 'user', content: 'turn 2' }])
      assert.equal(second.node, cold.name, 'load beat the cache')
      const reason = (await routeReasons(a, 1))[0] ?? ''
      assert.match(reason, new RegExp(`warm on ${warm.name} but overloaded`), reason)
    } finally {
      hold.abort()
      await Promise.all(pinned)
    }
  })

  it('should move the next turn without an error when the warm peer is killed mid-conversation', async () => {
    const [a, b, c, d] = await cluster.start([{ name: 'a', backend: 'none' }, ...serving(['b', 'c', 'd'])])
    if (a == null || b == null || c == null || d == null) throw new Error('cluster did not start')
    const messages = [{ role: 'system', content: systemPrompt('alpha') }, { role: 'user', content: 'turn 1' }]
    const first = await send(a, messages, {}, { 'x-harombe-session': 'conversation-1' })
    const warm = [b, c, d].find(n => n.name === first.node) as ClusterNode
    messages.push({ role: 'assistant', content: first.answer }, { role: 'user', content: 'turn 2' })
    const second = await send(a, messages, {}, { 'x-harombe-session': 'conversation-1' })
    assert.equal(second.node, warm.name, 'pinned by its session key')
    assert.match((await routeReasons(a, 1))[0] ?? '', new RegExp(`^pinned by session key to ${warm.name}`))

    // Abrupt: no leave announcement, the entry peer still thinks it alive and warm.
    await warm.peer.crash()
    messages.push({ role: 'assistant', content: second.answer }, { role: 'user', content: 'turn 3' })
    const third = await send(a, messages, {}, { 'x-harombe-session': 'conversation-1' })
    assert.notEqual(third.node, warm.name)
    messages.push({ role: 'assistant', content: third.answer }, { role: 'user', content: 'turn 4' })
    const fourth = await send(a, messages, {}, { 'x-harombe-session': 'conversation-1' })
    assert.equal(fourth.node, third.node, 'the conversation stays where it moved')
  })

  it('should spread N concurrent first requests over N idle peers, one each', async () => {
    const names = ['b', 'c', 'd']
    const [a] = await cluster.start([{ name: 'a', backend: 'none' }, ...serving(names, { behavior: { tokenDelayMs: 150 } })])
    if (a == null) throw new Error('cluster did not start')
    // The same agent's system prompt for all: the case that herded onto one peer before issue 23.
    const turns = await Promise.all(names.map(async (_, i) => await send(a, [{ role: 'system', content: systemPrompt('alpha') }, { role: 'user', content: `question ${i}` }])))
    assert.deepEqual(turns.map(t => t.node).sort(), names)
  })

  it('should pin by the keys the official clients send: OpenAI prompt_cache_key and user, the session header for Ollama, session on /api/complete', async () => {
    const [a] = await cluster.start([{ name: 'a', backend: 'none' }, ...serving(['b', 'c', 'd'])])
    if (a == null) throw new Error('cluster did not start')
    const openai = new OpenAI({ baseURL: `${a.api}/v1`, apiKey: 'unused', maxRetries: 0, timeout: 10_000 })
    const ollama = new Ollama({ host: a.api, headers: { 'x-harombe-session': 'ollama-conversation' } })
    const clients: Array<[string, (turn: number) => Promise<unknown>]> = [
      ['openai prompt_cache_key', async turn => await openai.chat.completions.create({ model: MODEL, prompt_cache_key: 'agent-7', messages: [{ role: 'user', content: `turn ${turn}` }] })],
      ['openai user', async turn => await openai.chat.completions.create({ model: MODEL, user: 'user-42', messages: [{ role: 'user', content: `turn ${turn}` }] })],
      ['ollama chat with the header', async turn => await ollama.chat({ model: MODEL, messages: [{ role: 'user', content: `turn ${turn}` }], stream: false })],
      ['ollama generate with the header', async turn => await new Ollama({ host: a.api, headers: { 'x-harombe-session': 'another-conversation' } }).generate({ model: MODEL, prompt: `turn ${turn}`, stream: false })],
      ['/api/complete session', async turn => { assert.equal((await postJson(`${a.api}/api/complete`, { messages: [{ role: 'user', content: `turn ${turn}` }], session: 'seed-conversation' })).status, 200) }]
    ]
    for (const [what, call] of clients) {
      await call(1)
      assert.match((await routeReasons(a, 1))[0] ?? '', /^rendezvous on session key/, `${what}: first turn`)
      await call(2)
      assert.match((await routeReasons(a, 1))[0] ?? '', /^pinned by session key to [bcd]/, `${what}: second turn`)
    }
  })
})
