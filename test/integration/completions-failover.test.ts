import assert from 'node:assert/strict'
import OpenAI from 'openai'
import { Ollama } from 'ollama'
import { stateOf } from '../helpers/wait.js'
import { ask, createCluster, MODEL, postJson, sseData, textOf, type ClusterNode } from '../helpers/cluster.js'
import type { MockServer, RecordedRequest } from '../helpers/mock-llm.js'

/** DESIGN: the serving peer stops generating at once when the caller goes away. */
const CANCEL_BOUND_MS = 100

/** An upstream that never gets to its first token within a test. */
const STALL = { firstTokenDelayMs: 30_000 }

/** A long, steady answer to abort in the middle of. */
const LONG = { tokens: Array.from({ length: 200 }, (_, i) => ` t${i}`), tokenDelayMs: 20 }

function chats (node: ClusterNode | undefined): number {
  return node?.mock?.chatRequests().length ?? 0
}

/** Resolves with the next chat request `mock` receives (GETs for models and health are skipped). */
async function nextChat (mock: MockServer | undefined, timeoutMs = 5_000): Promise<RecordedRequest> {
  if (mock == null) throw new Error('no mock')
  const deadline = Date.now() + timeoutMs
  for (let n = mock.requests.length + 1; ; n++) {
    const request = await mock.waitForRequest(n, Math.max(1, deadline - Date.now()))
    if (request.method === 'POST') return request
  }
}

/** The content of an OpenAI SSE body, and whether it ended properly. */
function sseContent (text: string): { content: string, done: boolean, errors: unknown[] } {
  const data = sseData(text)
  const chunks = data.filter(d => d !== '[DONE]').map(d => JSON.parse(d))
  return {
    content: chunks.flatMap(c => c.choices ?? []).map((c: any) => c.delta?.content ?? '').join(''),
    done: data.at(-1) === '[DONE]',
    errors: chunks.filter(c => c.error != null)
  }
}

/** Reads `body` until `predicate` holds for what arrived so far; the stream stays open. */
async function readUntil (body: ReadableStream<Uint8Array> | null, predicate: (text: string) => boolean): Promise<string> {
  if (body == null) throw new Error('no body')
  const reader = body.getReader()
  const decoder = new TextDecoder()
  let text = ''
  for (;;) {
    const { done, value } = await reader.read()
    if (done) throw new Error(`stream ended before the condition held: ${text}`)
    text += decoder.decode(value, { stream: true })
    if (predicate(text)) {
      reader.releaseLock()
      return text
    }
  }
}

describe('completion failover, no-candidate answers and cancellation', function () {
  this.timeout(20_000)
  const cluster = createCluster()

  afterEach(async () => { await cluster.stop() })

  describe('failover before the first token', () => {
    it('should give the client a full answer from another peer when the chosen one crashes mid-request', async () => {
      // v is tier 2 (chosen first for a tier-2 request), w tier 1 (graceful fallback).
      const [a, v, w] = await cluster.start([
        { name: 'a', tier: 0 },
        { name: 'v', tier: 2, behavior: STALL },
        { name: 'w', tier: 1 }
      ])
      if (a == null || v == null || w == null) throw new Error('cluster did not start')
      const asked = nextChat(v.mock)
      const response = postJson(`${a.api}/v1/chat/completions`, ask('hi', { tier: 2, stream: true }))
      await asked
      assert.equal(stateOf(a.peer.cluster(), v.id), 'alive', 'v is still alive in the view when it dies')
      await v.peer.crash()

      const res = await response
      assert.equal(res.status, 200)
      assert.equal(res.headers.get('x-harombe-node'), 'w')
      const streamed = sseContent(await res.text())
      assert.equal(streamed.content, textOf('w'), 'the whole answer, from w only')
      assert.ok(streamed.done, 'the stream ended with [DONE]')
      assert.deepEqual(streamed.errors, [])
      assert.equal(chats(a), 0)
    })

    it('should count the failover as a second attempt on the routing peer', async () => {
      const [a, v, w] = await cluster.start([
        { name: 'a', tier: 0 },
        { name: 'v', tier: 2, behavior: STALL },
        { name: 'w', tier: 1 }
      ])
      if (a == null || v == null || w == null) throw new Error('cluster did not start')
      const asked = nextChat(v.mock)
      const serving = a.peer.completions().complete({ messages: [{ role: 'user', content: 'hi' }], model: MODEL, tier: 2 }, { signal: AbortSignal.timeout(10_000) })
      await asked
      await v.peer.crash()
      const served = await serving
      assert.equal(served.node.name, 'w')
      assert.equal(served.attempts, 2, 'v failed, w served')
      assert.equal(served.result.message.content, textOf('w'))
    })

    it('should fail over when the chosen peer\'s upstream answers 429, without opening its breaker', async () => {
      const [a, v, w] = await cluster.start([
        { name: 'a', tier: 0 },
        { name: 'v', tier: 2, behavior: { failStatus: 429, failMessage: 'rate limited' } },
        { name: 'w', tier: 1 }
      ])
      // More requests than the breaker's threshold (3): busy is not broken, so v is tried each time.
      for (let i = 1; i <= 4; i++) {
        const res = await postJson(`${a?.api}/v1/chat/completions`, ask(`hi ${i}`, { tier: 2 }))
        assert.equal(res.status, 200, `request ${i}`)
        assert.equal(res.headers.get('x-harombe-node'), 'w', `request ${i}`)
        assert.equal((await res.json() as any).choices[0].message.content, textOf('w'))
      }
      assert.equal(chats(v), 4, 'v was asked every time')
      assert.equal(chats(w), 4)
    })

    it('should fail over when the chosen peer is at capacity with no queue', async () => {
      const [a, v, w] = await cluster.start([
        { name: 'a', tier: 0 },
        { name: 'v', tier: 2, capacity: 1, behavior: { tokenDelayMs: 100 }, peer: { maxQueue: 0 } },
        { name: 'w', tier: 1 }
      ])
      if (a == null || v == null || w == null) throw new Error('cluster did not start')
      const asked = nextChat(v.mock)
      const first = postJson(`${a.api}/v1/chat/completions`, ask('first', { tier: 2 }))
      await asked // v's only slot is taken
      const second = await postJson(`${a.api}/v1/chat/completions`, ask('second', { tier: 2 }))
      assert.equal(second.status, 200)
      assert.equal(second.headers.get('x-harombe-node'), 'w', 'v was busy: w served')
      assert.equal((await second.json() as any).choices[0].message.content, textOf('w'))

      const res = await first
      assert.equal(res.headers.get('x-harombe-node'), 'v')
      assert.equal((await res.json() as any).choices[0].message.content, textOf('v'))
      assert.equal(chats(v), 1, 'the busy attempt never reached v\'s upstream')
    })

    it('should open the breaker for a peer that keeps failing, then stop sending to it', async () => {
      const [a, v, w] = await cluster.start([
        { name: 'a', tier: 0 },
        { name: 'v', tier: 2, behavior: { failStatus: 500 } },
        { name: 'w', tier: 1 }
      ])
      if (a == null || v == null || w == null) throw new Error('cluster did not start')
      const complete = async (): Promise<{ node: string, attempts: number }> => {
        const served = await a.peer.completions().complete({ messages: [{ role: 'user', content: 'hi' }], model: MODEL, tier: 2 }, { signal: AbortSignal.timeout(10_000) })
        assert.equal(served.result.message.content, textOf('w'))
        return { node: served.node.name, attempts: served.attempts }
      }
      // Three consecutive failures (DEFAULT_FAILURE_THRESHOLD) open v's breaker on a.
      for (let i = 1; i <= 3; i++) assert.deepEqual(await complete(), { node: 'w', attempts: 2 }, `request ${i}: v failed, w served`)
      for (let i = 4; i <= 6; i++) assert.deepEqual(await complete(), { node: 'w', attempts: 1 }, `request ${i}: v skipped`)
      const res = await postJson(`${a.api}/v1/chat/completions`, ask('hi', { tier: 2 }))
      assert.equal(res.headers.get('x-harombe-node'), 'w')
      assert.equal(chats(v), 3, 'nothing reached v after its breaker opened')
      assert.equal(stateOf(a.peer.cluster(), v.id), 'alive', 'v is alive: only the breaker keeps it out')
    })
  })

  describe('no candidate left', () => {
    it('should answer 503 with Retry-After when every attempt fails, after bounded retries', async () => {
      const fail = { failStatus: 500 }
      const [a, v1, v2, v3] = await cluster.start([
        { name: 'a', tier: 0, backend: 'none', peer: { maxRetries: 1 } },
        { name: 'v1', tier: 2, behavior: fail },
        { name: 'v2', tier: 1, behavior: fail },
        { name: 'v3', tier: 0, behavior: fail }
      ])
      const res = await postJson(`${a?.api}/v1/chat/completions`, ask('hi', { tier: 2 }), { timeoutMs: 5_000 })
      assert.equal(res.status, 503)
      assert.ok(Number(res.headers.get('retry-after')) > 0, `Retry-After: ${res.headers.get('retry-after')}`)
      const body = await res.json() as any
      assert.equal(typeof body.error?.message, 'string', 'OpenAI-shaped error')
      assert.deepEqual([v1, v2, v3].map(chats), [1, 1, 0], 'maxRetries 1: two attempts, in tier order')
    })

    it('should answer 503 instead of hanging when every candidate stalls before its first token', async () => {
      const [a, v1, v2] = await cluster.start([
        { name: 'a', tier: 0, backend: 'none', peer: { maxRetries: 1, firstTokenTimeoutMs: 300 } },
        { name: 'v1', tier: 2, behavior: STALL },
        { name: 'v2', tier: 1, behavior: STALL }
      ])
      const started = Date.now()
      const res = await postJson(`${a?.api}/v1/chat/completions`, ask('hi', { tier: 2, stream: true }), { timeoutMs: 5_000 })
      const elapsed = Date.now() - started
      assert.equal(res.status, 503)
      assert.ok(Number(res.headers.get('retry-after')) > 0)
      assert.match((await res.json() as any).error.message, /first token/)
      assert.ok(elapsed < 2_000, `answered after ${elapsed} ms (two 300 ms attempts)`)
      // Each timed-out attempt stopped its upstream.
      await Promise.all([v1, v2].map(async v => await v?.mock?.waitForAbort(1, 1_000)))
    })

    it('should answer 503 for a strict tier nobody serves, in each API\'s format', async () => {
      const [a] = await cluster.start([
        { name: 'a', tier: 0, peer: { routing: { fallbackStrategy: 'strict', preferLocal: true, loadBalance: true } } },
        { name: 'b', tier: 1 }
      ])
      const formats: Array<{ path: string, body: unknown, check: (body: any) => void }> = [
        { path: '/v1/chat/completions', body: ask('hi', { tier: 2 }), check: b => { assert.equal(typeof b.error.message, 'string') } },
        { path: '/api/chat', body: { ...ask('hi', { tier: 2 }), stream: false }, check: b => { assert.equal(typeof b.error, 'string') } },
        { path: '/api/complete', body: ask('hi', { tier: 2 }), check: b => { assert.equal(b.error.code, 'no_peer') } }
      ]
      for (const f of formats) {
        const res = await postJson(`${a?.api}${f.path}`, f.body, { timeoutMs: 5_000 })
        assert.equal(res.status, 503, f.path)
        assert.ok(Number(res.headers.get('retry-after')) > 0, f.path)
        f.check(await res.json())
      }
    })
  })

  describe('cancellation', () => {
    it('should abort the upstream within 100 ms when the client aborts a locally served stream', async () => {
      const [a] = await cluster.start([{ name: 'a', behavior: LONG }])
      const controller = new AbortController()
      const res = await postJson(`${a?.api}/v1/chat/completions`, ask('go on', { stream: true }), { signal: controller.signal })
      assert.equal(res.headers.get('x-harombe-node'), 'a')
      await readUntil(res.body, text => text.includes(' t2'))
      const abortedAt = Date.now()
      controller.abort()
      const seen = await a?.mock?.waitForAbort(1, 2_000)
      const delay = (seen?.at ?? Infinity) - abortedAt
      assert.ok(delay <= CANCEL_BOUND_MS, `the upstream saw the abort after ${delay} ms`)
    })

    it('should abort the upstream within 100 ms when the openai client aborts a stream served over one mesh hop', async () => {
      const [a, c] = await cluster.start([{ name: 'a', tier: 0 }, { name: 'c', tier: 2, behavior: LONG }])
      const client = new OpenAI({ baseURL: `${a?.api}/v1`, apiKey: 'unused', maxRetries: 0, timeout: 10_000, defaultHeaders: { 'x-harombe-tier': '2' } })
      const stream = await client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'go on' }], stream: true })
      let content = ''
      let abortedAt = 0
      for await (const chunk of stream) {
        content += chunk.choices[0]?.delta.content ?? ''
        if (content.includes(' t2')) {
          abortedAt = Date.now()
          stream.controller.abort()
        }
      }
      assert.ok(abortedAt > 0, 'aborted mid-stream')
      const seen = await c?.mock?.waitForAbort(1, 2_000)
      const delay = (seen?.at ?? Infinity) - abortedAt
      assert.ok(delay <= CANCEL_BOUND_MS, `c's upstream saw the abort after ${delay} ms`)
      assert.equal(chats(a), 0)
    })

    it('should abort the upstream within 100 ms when the ollama client aborts a stream served over one mesh hop', async () => {
      const [a, c] = await cluster.start([{ name: 'a', tier: 0 }, { name: 'c', tier: 2, backend: 'ollama', behavior: LONG }])
      const ollama = new Ollama({ host: a?.api ?? '', headers: { 'x-harombe-tier': '2' } })
      const parts = await ollama.chat({ model: MODEL, messages: [{ role: 'user', content: 'go on' }], stream: true })
      let content = ''
      let abortedAt = 0
      try {
        for await (const part of parts) {
          content += part.message.content
          if (content.includes(' t2') && abortedAt === 0) {
            abortedAt = Date.now()
            parts.abort()
          }
        }
      } catch (err: any) {
        // The client ends an aborted iteration with an AbortError.
        assert.equal(err?.name, 'AbortError', String(err))
      }
      assert.ok(abortedAt > 0, 'aborted mid-stream')
      const seen = await c?.mock?.waitForAbort(1, 2_000)
      const delay = (seen?.at ?? Infinity) - abortedAt
      assert.ok(delay <= CANCEL_BOUND_MS, `c's upstream saw the abort after ${delay} ms`)
    })
  })
})
