import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import OpenAI from 'openai'
import { createEmbeddedBackend } from '../../src/backends/embedded.js'
import { HEAVY_MODEL_NAME } from '../../src/backends/tiny-gguf.js'
import { createPeer, type Peer } from '../../src/peer.js'
import { mulberry32 } from '../../src/util/prng.js'
import { heavyModelFile } from '../helpers/heavy-model.js'
import { waitForView } from '../helpers/wait.js'

// Issue 23, acceptance 2, the two halves together: an entry peer that routes by what it sent
// where, in front of two peers whose embedded backends keep their prompt cache (the generated
// harombe-heavy model, where a prompt costs real time). A conversation that stays on one peer is
// answered from that peer's cache, and the client sees it in usage.prompt_tokens_details.
// Routing alone is tested with mocks in completions-affinity.test.ts; the cache alone in
// embedded-prompt-cache.test.ts.

const WORDS = 'mesh peer node model token stream route gossip cluster network prompt answer question reply machine server client request message signal queue latency'.split(' ')

/** ~100 words: several routing blocks and some hundreds of tokens, seconds at most to evaluate cold. */
function systemPrompt (seed: number): string {
  const next = mulberry32(seed)
  return Array.from({ length: 100 }, () => WORDS[Math.floor(next() * WORDS.length)]).join(' ')
}

/** A cold prompt takes seconds on a loaded 2-core machine; bound every answer. */
const COMPLETION_MS = 60_000

describe('affinity routing with the embedded prompt cache (harombe-heavy)', function () {
  this.timeout(240_000)
  const peers: Peer[] = []
  const dirs: string[] = []
  let entry: Peer

  before(async () => {
    const modelFile = await heavyModelFile()
    const start = async (name: string, serve: boolean, bootstrap: string[]): Promise<Peer> => {
      const dataDir = await mkdtemp(join(tmpdir(), 'harombe-affinity-embedded-'))
      dirs.push(dataDir)
      // One sequence each: a second conversation on the same peer would evict the first, so a
      // hit on every follow-up shows the conversation stayed where its cache is.
      const backend = serve ? await createEmbeddedBackend({ modelFile, sequences: 1, contextSize: 2048 }) : undefined
      const peer = createPeer({ name, dataDir, apiHost: '127.0.0.1', apiPort: 0, listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, profile: 'test', bootstrap, ...(backend != null ? { backend } : {}) })
      peers.push(peer)
      await peer.start()
      return peer
    }
    const b = await start('b', true, [])
    const c = await start('c', true, [b.info().meshAddrs[0] ?? ''])
    entry = await start('a', false, [b.info().meshAddrs[0] ?? '', c.info().meshAddrs[0] ?? ''])
    await waitForView(entry, view => ['b', 'c'].every(n => view.peers.some(p => p.name === n && p.state === 'alive' && p.models.includes(HEAVY_MODEL_NAME))), 15_000, 'b and c alive with harombe-heavy')
  })
  after(async () => {
    await Promise.all(peers.splice(0).map(async p => { await p.stop().catch(() => {}) }))
    await Promise.all(dirs.splice(0).map(async d => { await rm(d, { recursive: true, force: true }) }))
  })

  it('should keep two 3-turn conversations each on one peer, every follow-up answered from its cache', async () => {
    const client = new OpenAI({ baseURL: `${entry.info().apiUrl}/v1`, apiKey: 'unused', maxRetries: 0, timeout: COMPLETION_MS })
    const run = async (seed: number): Promise<Array<{ node: string, prompt: number, cached: number | undefined }>> => {
      const messages: OpenAI.ChatCompletionMessageParam[] = [{ role: 'system', content: systemPrompt(seed) }]
      const turns = []
      for (let t = 1; t <= 3; t++) {
        messages.push({ role: 'user', content: `river stone ${t}` })
        const { data, response } = await client.chat.completions.create({ model: HEAVY_MODEL_NAME, messages, max_tokens: 4, temperature: 0 }).withResponse()
        turns.push({ node: response.headers.get('x-harombe-node') ?? '?', prompt: data.usage?.prompt_tokens ?? 0, cached: data.usage?.prompt_tokens_details?.cached_tokens })
        messages.push({ role: 'assistant', content: data.choices[0]?.message.content ?? '' })
      }
      return turns
    }
    // Two at once: the entry peer must not herd them onto one peer (its one sequence would then
    // be shared, and the follow-ups would find the other conversation's tokens there).
    const conversations = await Promise.all([run(1), run(2)])
    const shown = JSON.stringify(conversations)
    for (const turns of conversations) {
      assert.equal(new Set(turns.map(t => t.node)).size, 1, `a conversation moved: ${shown}`)
      assert.equal(turns[0]?.cached, 0, `a first turn is cold: ${shown}`)
      for (const follow of turns.slice(1)) {
        // The whole previous prompt is cached; the new user turn (and the answer) are not.
        assert.ok(follow.cached != null && follow.cached > follow.prompt / 2, `a follow-up mostly from cache: ${shown}`)
      }
    }
    assert.notEqual(conversations[0]?.[0]?.node, conversations[1]?.[0]?.node, `concurrent first turns spread over both peers: ${shown}`)
  })
})
