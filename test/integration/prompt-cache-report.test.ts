import assert from 'node:assert/strict'
import OpenAI from 'openai'
import { Ollama } from 'ollama'
import { createCluster, MODEL, postJson, type ClusterNode } from '../helpers/cluster.js'

// Issue 23: a serving peer's prompt-cache hit (here an OpenAI-compatible upstream that reports one,
// as llama-server does) reaches every client of the entry peer, and its metrics and dashboard data.

/** Six words: the mock counts one prompt token per word. */
const PROMPT = 'one two three four five six'
const PROMPT_TOKENS = 6
const CACHED = 4

describe('prompt-cache hits reported through the mesh (mock upstream)', function () {
  this.timeout(30_000)
  const cluster = createCluster()
  let a: ClusterNode
  let b: ClusterNode

  before(async () => {
    // a: routing only, so every answer crosses the mesh from b, whose upstream reports the hit.
    [a, b] = await cluster.start([
      { name: 'a', backend: 'none' },
      { name: 'b', backend: 'openai', behavior: { cached: { tokens: CACHED, in: 'usage' } } }
    ]) as [ClusterNode, ClusterNode]
  })
  after(async () => { await cluster.stop() })

  const client = (): OpenAI => new OpenAI({ baseURL: `${a.api}/v1`, apiKey: 'unused', maxRetries: 0, timeout: 10_000 })

  it('should give the official openai client usage.prompt_tokens_details.cached_tokens in a whole answer', async () => {
    const { data, response } = await client().chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: PROMPT }] }).withResponse()
    assert.equal(response.headers.get('x-harombe-node'), 'b')
    assert.equal(data.usage?.prompt_tokens, PROMPT_TOKENS)
    assert.equal(data.usage?.prompt_tokens_details?.cached_tokens, CACHED)
  })

  it('should give it in the usage chunk of a stream', async () => {
    const stream = await client().chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: PROMPT }], stream: true, stream_options: { include_usage: true } })
    let usage: OpenAI.CompletionUsage | undefined
    for await (const chunk of stream) if (chunk.usage != null) usage = chunk.usage
    assert.equal(usage?.prompt_tokens, PROMPT_TOKENS)
    assert.equal(usage?.prompt_tokens_details?.cached_tokens, CACHED)
  })

  it('should give the same figure in /api/complete, streamed and whole', async () => {
    const whole = await postJson(`${a.api}/api/complete`, { model: MODEL, messages: [{ role: 'user', content: PROMPT }] })
    assert.equal(whole.status, 200)
    assert.deepEqual((await whole.json() as any).usage.prompt_tokens_details, { cached_tokens: CACHED })
    const streamed = await postJson(`${a.api}/api/complete`, { model: MODEL, messages: [{ role: 'user', content: PROMPT }], stream: true })
    const last = JSON.parse((await streamed.text()).trim().split('\n').at(-1) ?? '{}')
    assert.equal(last.type, 'done')
    assert.deepEqual(last.usage.prompt_tokens_details, { cached_tokens: CACHED })
  })

  it('should keep Ollama\'s shape, prompt_eval_count counting only the evaluated tokens', async () => {
    const answer = await new Ollama({ host: a.api }).chat({ model: MODEL, messages: [{ role: 'user', content: PROMPT }], stream: false })
    assert.equal(answer.prompt_eval_count, PROMPT_TOKENS - CACHED)
    assert.equal('prompt_tokens_details' in answer, false)
  })

  it('should count cached and evaluated prompt tokens in /metrics and a hit rate for b in /api/requests', async () => {
    const scrape = async (): Promise<Record<string, number>> => {
      const text = await (await fetch(`${a.api}/metrics`)).text()
      const value = (cached: string): number => Number(new RegExp(`^harombe_prompt_tokens_total\\{cached="${cached}"\\} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN)
      return { true: value('true'), false: value('false') }
    }
    const before = await scrape()
    await client().chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: PROMPT }] })
    const after = await scrape()
    assert.equal(after.true! - before.true!, CACHED, 'cached="true"')
    assert.equal(after.false! - before.false!, PROMPT_TOKENS - CACHED, 'cached="false"')

    const body = await (await fetch(`${a.api}/api/requests?limit=1`)).json() as any
    assert.deepEqual([body.requests[0].prompt_tokens, body.requests[0].cached_tokens], [PROMPT_TOKENS, CACHED])
    const forB = body.prompt_cache.find((c: any) => c.served_by.name === 'b')
    assert.ok(forB != null, JSON.stringify(body.prompt_cache))
    // Every answered request so far came from b with the same hit: the window's totals say so.
    assert.equal(forB.hits, forB.requests)
    assert.ok(forB.requests >= 6, `${forB.requests} requests`)
    assert.equal(forB.prompt_tokens, forB.requests * PROMPT_TOKENS)
    assert.equal(forB.cached_tokens, forB.requests * CACHED)
    assert.equal(forB.served_by.peer_id, b.id)
  })
})
