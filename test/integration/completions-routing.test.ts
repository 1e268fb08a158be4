import assert from 'node:assert/strict'
import type { RoutingPolicy } from '../../src/routing/router.js'
import { pollUntil, stateOf, waitForView } from '../helpers/wait.js'
import { ask, createCluster, postJson, sseData, textOf, tokensOf, type ClusterNode, type NodeSpec } from '../helpers/cluster.js'

const STRICT: RoutingPolicy = { fallbackStrategy: 'strict', preferLocal: true, loadBalance: true }
const GRACEFUL: RoutingPolicy = { fallbackStrategy: 'graceful', preferLocal: true, loadBalance: true }

/** Tiers 0/1/2, each peer on its own OpenAI-compatible mock that answers with its own name. */
function threeTiers (routingOfA?: RoutingPolicy): NodeSpec[] {
  return [
    { name: 'a', tier: 0, ...(routingOfA != null ? { peer: { routing: routingOfA } } : {}) },
    { name: 'b', tier: 1 },
    { name: 'c', tier: 2 }
  ]
}

function chatCount (node: ClusterNode): number {
  return node.mock?.chatRequests().length ?? 0
}

describe('completion routing across real peers', function () {
  this.timeout(20_000)
  const cluster = createCluster()

  afterEach(async () => { await cluster.stop() })

  describe('tiers', () => {
    it('should serve a tier-2 request sent to the tier-0 peer on the tier-2 peer', async () => {
      const [a, b, c] = await cluster.start(threeTiers())
      const res = await postJson(`${a?.api}/v1/chat/completions`, ask('who are you?', { tier: 2 }))
      assert.equal(res.status, 200, await res.clone().text())
      assert.equal(res.headers.get('x-harombe-node'), 'c', 'x-harombe-node names the tier-2 peer')
      const body = await res.json() as any
      assert.equal(body.choices[0].message.content, textOf('c'), 'the answer is the tier-2 mock\'s')
      assert.deepEqual([a, b, c].map(n => chatCount(n as ClusterNode)), [0, 0, 1], 'only the tier-2 upstream was asked')

      // The seed's endpoint names the serving node in its body as well.
      const seed = await postJson(`${a?.api}/api/complete`, ask('again', { tier: 2 }))
      assert.equal(seed.status, 200)
      const answer = await seed.json() as any
      assert.deepEqual(answer.node, { name: 'c', peer_id: c?.id, tier: 2 })
      assert.equal(answer.message.content, textOf('c'))
    })

    it('should answer 503 with Retry-After under strict routing when tier 2 has left', async () => {
      const [a, b, c] = await cluster.start(threeTiers(STRICT))
      if (a == null || b == null || c == null) throw new Error('cluster did not start')
      await c.peer.stop()
      await waitForView(a.peer, cl => stateOf(cl, c.id) === 'left', 2_000, 'c left')

      const res = await postJson(`${a.api}/v1/chat/completions`, ask('hi', { tier: 2 }))
      assert.equal(res.status, 503)
      assert.ok(Number(res.headers.get('retry-after')) > 0, `Retry-After: ${res.headers.get('retry-after')}`)
      const body = await res.json() as any
      assert.equal(typeof body.error?.message, 'string', 'OpenAI-shaped error')
      assert.match(body.error.message, /strict/)
      assert.deepEqual([a, b].map(chatCount), [0, 0], 'no lower tier was asked')
    })

    it('should fall back to tier 1 under graceful routing when tier 2 has left', async () => {
      const [a, b, c] = await cluster.start(threeTiers(GRACEFUL))
      if (a == null || b == null || c == null) throw new Error('cluster did not start')
      await c.peer.stop()
      await waitForView(a.peer, cl => stateOf(cl, c.id) === 'left', 2_000, 'c left')

      const res = await postJson(`${a.api}/v1/chat/completions`, ask('hi', { tier: 2 }))
      assert.equal(res.status, 200, await res.clone().text())
      assert.equal(res.headers.get('x-harombe-node'), 'b', 'the next lower tier served')
      const body = await res.json() as any
      assert.equal(body.choices[0].message.content, textOf('b'))
      assert.deepEqual([a, b].map(chatCount), [0, 1])
    })
  })

  describe('load balancing', () => {
    it('should spread overlapping requests over two peers of the same tier by load', async () => {
      // Two tier-1 peers, one slot each, slow upstreams so every request is still running when the
      // next one is routed. A peer's load reaches the others up to ~1 s after it changes, so each request
      // is sent only once the previous one's load is visible on x: the router then decides on the
      // load the design says it uses, and the outcome is deterministic:
      //   r1: x 0/1, y 0/1 → tie → x (prefer local)
      //   r2: x 1/1, y 0/1 → y
      //   r3: x 1/1, y 1/1 → tie → x (queued behind r1)
      //   r4: x 2/1, y 1/1 → y
      const slow = { tokenDelayMs: 250 }
      const [x, y] = await cluster.start([
        { name: 'x', tier: 1, capacity: 1, behavior: slow, peer: { routing: GRACEFUL } },
        { name: 'y', tier: 1, capacity: 1, behavior: slow }
      ])
      if (x == null || y == null) throw new Error('cluster did not start')
      const visible = async (id: string, active: number, queued: number): Promise<void> => {
        const holds = (cl: ReturnType<typeof x.peer.cluster>): boolean => {
          const load = cl.peers.find(p => p.peer_id === id)?.load
          return load?.active === active && load.queued === queued
        }
        const what = `load ${active}+${queued} of ${id === x.id ? 'x' : 'y'} visible on x`
        // x's own load is exact at once but raises no view event; y's arrives as an announcement.
        if (id === x.id) await pollUntil(() => holds(x.peer.cluster()), 3_000, what)
        else await waitForView(x.peer, holds, 3_000, what)
      }

      const send = async (i: number): Promise<string | null> => {
        const res = await postJson(`${x.api}/v1/chat/completions`, ask(`request ${i}`, { tier: 1 }))
        assert.equal(res.status, 200, `request ${i}: ${await res.clone().text()}`)
        const body = await res.json() as any
        assert.equal(body.choices[0].message.content, textOf(res.headers.get('x-harombe-node') ?? '?'), `request ${i} got its server's answer`)
        return res.headers.get('x-harombe-node')
      }
      const served: Array<Promise<string | null>> = []
      served.push(send(1))
      await visible(x.id, 1, 0)
      served.push(send(2))
      await visible(y.id, 1, 0)
      served.push(send(3))
      await visible(x.id, 1, 1)
      served.push(send(4))

      const names = await Promise.all(served)
      assert.deepEqual(names, ['x', 'y', 'x', 'y'], 'each request went to the less loaded peer')
      assert.deepEqual([chatCount(x), chatCount(y)], [2, 2])
    })
  })

  describe('streaming', () => {
    it('should stream /api/complete deltas in order over the mesh, then one done object', async () => {
      const tokens = ['one', ' two', ' three', ' four', ' five', ' six']
      const [a] = await cluster.start([
        { name: 'a', tier: 0 },
        { name: 'c', tier: 2, behavior: { tokens, tokenDelayMs: 40 } }
      ])
      const res = await postJson(`${a?.api}/api/complete`, ask('count', { tier: 2, stream: true }))
      assert.equal(res.status, 200)
      assert.equal(res.headers.get('x-harombe-node'), 'c')
      assert.match(res.headers.get('content-type') ?? '', /ndjson/)

      // Read as it arrives: the first delta must come well before the answer is complete.
      const arrivals: Array<{ at: number, line: any }> = []
      const decoder = new TextDecoder()
      let buffered = ''
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        buffered += decoder.decode(chunk, { stream: true })
        let end: number
        while ((end = buffered.indexOf('\n')) >= 0) {
          const line = buffered.slice(0, end)
          buffered = buffered.slice(end + 1)
          if (line.trim() !== '') arrivals.push({ at: Date.now(), line: JSON.parse(line) })
        }
      }
      const lines = arrivals.map(a => a.line)
      const done = lines.at(-1)
      const deltas = lines.slice(0, -1)
      assert.ok(deltas.every(d => d.type === 'delta'), `every line but the last is a delta: ${JSON.stringify(lines)}`)
      assert.ok(deltas.length >= 2, `streamed in several deltas, got ${deltas.length}`)
      assert.equal(deltas.map(d => d.content).join(''), tokens.join(''), 'deltas concatenate to the answer, in order')
      assert.equal(done?.type, 'done')
      assert.equal(done.message.content, tokens.join(''))
      assert.equal(done.finish_reason, 'stop')
      assert.equal(done.node.name, 'c')
      const spread = (arrivals.at(-1)?.at ?? 0) - (arrivals[0]?.at ?? 0)
      assert.ok(spread >= 100, `deltas arrived as generated, not all at the end (first→last ${spread} ms)`)
    })

    it('should stream OpenAI SSE chunks in order, ending with finish_reason, usage and [DONE]', async () => {
      const tokens = tokensOf('c')
      const [a] = await cluster.start([
        { name: 'a', tier: 0 },
        { name: 'c', tier: 2, behavior: { tokenDelayMs: 20 } }
      ])
      const res = await postJson(`${a?.api}/v1/chat/completions`, ask('hi', { tier: 2, stream: true, stream_options: { include_usage: true } }))
      assert.equal(res.status, 200)
      assert.equal(res.headers.get('x-harombe-node'), 'c')
      assert.match(res.headers.get('content-type') ?? '', /text\/event-stream/)
      const data = sseData(await res.text())
      assert.equal(data.at(-1), '[DONE]', 'the stream ends with [DONE]')
      const chunks = data.slice(0, -1).map(d => JSON.parse(d))
      assert.ok(chunks.every(c => c.object === 'chat.completion.chunk'))
      assert.equal(new Set(chunks.map(c => c.id)).size, 1, 'one completion id throughout')
      assert.equal(chunks[0].choices[0].delta.role, 'assistant', 'the role comes first')
      const content = chunks.flatMap(c => c.choices).map(ch => ch.delta?.content ?? '').join('')
      assert.equal(content, tokens.join(''), 'content chunks concatenate to the answer, in order')
      const finishes = chunks.flatMap(c => c.choices).filter(ch => ch.finish_reason != null)
      assert.deepEqual(finishes.map(ch => ch.finish_reason), ['stop'], 'exactly one finish_reason')
      const last = chunks.at(-1)
      assert.deepEqual(last.choices, [], 'the usage chunk has no choices')
      assert.equal(last.usage.completion_tokens, tokens.length)
      assert.equal(last.usage.total_tokens, last.usage.prompt_tokens + last.usage.completion_tokens)
    })
  })
})
