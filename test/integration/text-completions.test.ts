import assert from 'node:assert/strict'
import OpenAI from 'openai'
import { createCluster, MODEL, postJson, textOf, tokensOf, type ClusterNode } from '../helpers/cluster.js'

describe('POST /v1/completions (raw prompt) through the mesh', function () {
  this.timeout(20_000)
  const cluster = createCluster()
  afterEach(async () => { await cluster.stop() })

  /** entry: routing only; a: OpenAI-compatible upstream (tier 0); b: Ollama upstream (tier 1). */
  async function mesh (): Promise<{ entry: ClusterNode, a: ClusterNode, b: ClusterNode }> {
    const [entry, a, b] = await cluster.start([
      { name: 'entry', backend: 'none' },
      { name: 'a', tier: 0, backend: 'openai' },
      { name: 'b', tier: 1, backend: 'ollama' }
    ])
    if (entry == null || a == null || b == null) throw new Error('cluster did not start')
    return { entry, a, b }
  }

  const rawBodies = (node: ClusterNode, path: string): any[] => node.mock?.requests.filter(r => r.path === path).map(r => r.body) ?? []

  it('should answer whole with the openai client, the prompt sent as it is to /v1/completions', async () => {
    const { entry, a } = await mesh()
    const client = new OpenAI({ baseURL: `${entry.api}/v1`, apiKey: 'unused', maxRetries: 0, timeout: 10_000 })
    const out = await client.completions.create({ model: MODEL, prompt: 'Once upon a time', max_tokens: 16, temperature: 0 }).withResponse()
    assert.equal(out.response.headers.get('x-harombe-node'), 'a')
    assert.equal(out.data.object, 'text_completion')
    assert.equal(out.data.choices[0]?.text, textOf('a'))
    assert.equal(out.data.choices[0]?.finish_reason, 'stop')
    assert.equal(out.data.usage?.prompt_tokens, 4)
    assert.equal(out.data.usage?.completion_tokens, tokensOf('a').length)
    const sent = rawBodies(a, '/v1/completions')
    assert.equal(sent.length, 1)
    assert.equal(sent[0].prompt, 'Once upon a time')
    assert.equal(sent[0].temperature, 0)
    assert.equal(a.mock?.chatRequests().length, 0, 'no chat template: not /chat/completions')
  })

  it('should stream with the openai client, with usage and a finish reason', async () => {
    const { entry } = await mesh()
    const client = new OpenAI({ baseURL: `${entry.api}/v1`, apiKey: 'unused', maxRetries: 0, timeout: 10_000 })
    const stream = await client.completions.create({ model: MODEL, prompt: 'def add(a, b):', stream: true, stream_options: { include_usage: true } })
    let text = ''
    const finishes: Array<string | null | undefined> = []
    let usage: OpenAI.CompletionUsage | undefined
    for await (const chunk of stream) {
      text += chunk.choices[0]?.text ?? ''
      if (chunk.choices[0]?.finish_reason != null) finishes.push(chunk.choices[0].finish_reason)
      if (chunk.usage != null) usage = chunk.usage
    }
    assert.equal(text, textOf('a'))
    assert.deepEqual(finishes, ['stop'])
    assert.equal(usage?.completion_tokens, tokensOf('a').length)
  })

  it('should send the raw prompt to an Ollama peer as /api/generate with raw, streamed and whole', async () => {
    const { entry, b } = await mesh()
    const client = new OpenAI({ baseURL: `${entry.api}/v1`, apiKey: 'unused', maxRetries: 0, timeout: 10_000, defaultHeaders: { 'x-harombe-tier': '1' } })
    const whole = await client.completions.create({ model: MODEL, prompt: 'The sky is', max_tokens: 2 })
    assert.equal(whole.choices[0]?.text, tokensOf('b').slice(0, 2).join(''))
    assert.equal(whole.choices[0]?.finish_reason, 'length')
    const stream = await client.completions.create({ model: MODEL, prompt: 'The sky is', stream: true })
    let text = ''
    for await (const chunk of stream) text += chunk.choices[0]?.text ?? ''
    assert.equal(text, textOf('b'))
    const sent = rawBodies(b, '/api/generate')
    assert.equal(sent.length, 2)
    assert.ok(sent.every(body => body.raw === true && body.prompt === 'The sky is'))
    assert.equal(sent[0].options?.num_predict, 2)
    assert.equal(b.mock?.chatRequests().length, 0)
  })

  it('should answer bad bodies with 400 in OpenAI\'s shape and an unknown model with 404, and keep serving', async () => {
    const { entry } = await mesh()
    const cases: Array<[unknown, number, RegExp]> = [
      [{ model: MODEL }, 400, /prompt/],
      [{ model: MODEL, prompt: 5 }, 400, /prompt/],
      [{ model: MODEL, prompt: ['a', 'b'] }, 400, /one prompt per request/],
      [{ model: MODEL, prompt: 'x', n: 2 }, 400, /n/],
      [{ model: 'nope', prompt: 'x' }, 404, /nope/]
    ]
    for (const [body, status, message] of cases) {
      const res = await postJson(`${entry.api}/v1/completions`, body)
      assert.equal(res.status, status, JSON.stringify(body))
      const answer = await res.json() as any
      assert.match(answer.error.message, message)
    }
    const ok = await postJson(`${entry.api}/v1/completions`, { model: MODEL, prompt: 'x' })
    assert.equal(ok.status, 200)
  })
})
