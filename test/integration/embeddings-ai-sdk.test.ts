// The AI SDK's `embedMany` (with its OpenAI provider pointed at a peer) through an entry peer to a
// serving peer: what a RAG pipeline built on the AI SDK does with a local server.
import assert from 'node:assert/strict'
import { createOpenAI } from '@ai-sdk/openai'
import { embed, embedMany } from 'ai'
import { createCluster, MODEL } from '../helpers/cluster.js'
import { mockEmbedding, MOCK_EMBED_DIMS } from '../helpers/mock-llm.js'

/** The vector the serving peer's mock computes, as float32 values (what the mesh carries). */
const expected = (text: string): number[] => Array.from(Float32Array.from(mockEmbedding(text)))

describe('AI SDK embedMany through the mesh', function () {
  this.timeout(20_000)
  const cluster = createCluster()
  afterEach(async () => { await cluster.stop() })

  it('should embed many values and one value through an entry peer on the serving peer', async () => {
    const [entry, b] = await cluster.start([
      { name: 'entry', backend: 'none' },
      { name: 'b', backend: 'openai' }
    ])
    if (entry == null || b == null) throw new Error('cluster did not start')
    const provider = createOpenAI({ baseURL: `${entry.api}/v1`, apiKey: 'unused' })
    const model = provider.embedding(MODEL)

    const values = ['first document', 'second one', 'a third, longer document about vectors']
    const many = await embedMany({ model, values, maxRetries: 0 })
    assert.deepEqual(many.values, values)
    assert.deepEqual(many.embeddings, values.map(expected))
    assert.equal(many.embeddings[0]?.length, MOCK_EMBED_DIMS)
    // The mock counts whitespace-separated words as tokens: 2 + 2 + 6.
    assert.equal(many.usage.tokens, 10)
    assert.equal(many.responses?.[0]?.headers?.['x-harombe-node'], 'b')
    // One request for the batch, on the serving peer's upstream, not one per value.
    const upstream = b.mock?.requests.filter(r => r.path === '/v1/embeddings') ?? []
    assert.equal(upstream.length, 1)
    assert.deepEqual(upstream[0]?.body.input, values)

    const one = await embed({ model, value: 'query', maxRetries: 0 })
    assert.deepEqual(one.embedding, expected('query'))
  })

  it('should surface an unknown model as the API\'s 404', async () => {
    const [entry] = await cluster.start([{ name: 'entry', backend: 'none' }, { name: 'b', backend: 'openai' }])
    if (entry == null) throw new Error('cluster did not start')
    const provider = createOpenAI({ baseURL: `${entry.api}/v1`, apiKey: 'unused' })
    await assert.rejects(embedMany({ model: provider.embedding('nope'), values: ['x'], maxRetries: 0 }), (err: any) => {
      assert.equal(err.statusCode, 404)
      assert.match(err.message, /nope/)
      return true
    })
  })
})
