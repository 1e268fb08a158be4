import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import OpenAI from 'openai'
import { createEmbeddedBackend } from '../../src/backends/embedded.js'
import { HEAVY_MODEL_NAME } from '../../src/backends/tiny-gguf.js'
import type { Backend, BackendRequest, CompletionResult } from '../../src/completion/types.js'
import { createPeer, type Peer } from '../../src/peer.js'
import { mulberry32 } from '../../src/util/prng.js'
import { heavyModelFile } from '../helpers/heavy-model.js'
import { waitForView } from '../helpers/wait.js'

// Issue 23: the embedded backend keeps each sequence's tokens and evaluates only what a new prompt
// adds, on a model heavy enough that a prompt costs real time (the generated harombe-heavy).

/** Words of the generated vocabulary; ~7 tokens each here, so 120 words are a ~850-token system prompt. */
const WORDS = 'mesh peer node model token stream route gossip cluster network prompt answer question reply machine server client request message signal queue latency'.split(' ')

function systemPrompt (seed: number, words = 120): string {
  const next = mulberry32(seed)
  return Array.from({ length: words }, () => WORDS[Math.floor(next() * WORDS.length)]).join(' ')
}

/** A system prompt and one user turn; fewer words where a test does not time the prompt. */
function conversation (seed: number, words = 120): BackendRequest {
  return { model: HEAVY_MODEL_NAME, messages: [{ role: 'system', content: systemPrompt(seed, words) }, { role: 'user', content: 'river stone' }], max_tokens: 4, temperature: 0 }
}

/** Bounds every completion: a cold ~850-token prompt takes seconds on a loaded 2-core machine. */
const COMPLETION_MS = 60_000

async function timed (backend: Backend, request: BackendRequest): Promise<{ result: CompletionResult, ms: number }> {
  const started = performance.now()
  const result = await backend.complete(request, { signal: AbortSignal.timeout(COMPLETION_MS) })
  return { result, ms: performance.now() - started }
}

const cachedOf = (result: CompletionResult): number | undefined => result.usage.prompt_tokens_details?.cached_tokens

describe('embedded prompt cache (harombe-heavy)', function () {
  this.timeout(180_000)
  let modelFile: string

  before(async () => { modelFile = await heavyModelFile() })

  describe('one backend', () => {
    let cached: Backend | undefined
    let clean: Backend | undefined

    before(async () => {
      cached = await createEmbeddedBackend({ modelFile, sequences: 2, contextSize: 2048 })
      clean = await createEmbeddedBackend({ modelFile, sequences: 1, contextSize: 2048, promptCache: false })
    })
    after(async () => {
      await cached?.close()
      await clean?.close()
    })

    it('should report the second of two same long prompts as cached, and answer it faster', async () => {
      const cold = await timed(cached!, conversation(1))
      const warm = await timed(cached!, conversation(1))
      assert.ok(cold.result.usage.prompt_tokens > 700, `a long prompt: ${cold.result.usage.prompt_tokens} tokens`)
      assert.equal(cachedOf(cold.result), 0, 'nothing cached the first time')
      // All but the last prompt token, which is evaluated again for the first token's logits.
      assert.equal(cachedOf(warm.result), warm.result.usage.prompt_tokens - 1)
      assert.ok(warm.ms < cold.ms / 2, `warm ${Math.round(warm.ms)} ms vs cold ${Math.round(cold.ms)} ms`)
      assert.equal(warm.result.message.content, cold.result.message.content, 'the same greedy answer from the cache')
    })

    it('should reuse a conversation\'s prefix when it grows by a turn', async () => {
      const first = await timed(cached!, conversation(2))
      const next: BackendRequest = {
        ...conversation(2),
        messages: [...conversation(2).messages, { role: 'assistant', content: first.result.message.content ?? '' }, { role: 'user', content: 'cloud light' }]
      }
      const second = await timed(cached!, next)
      // At least the whole first prompt: the rendered history starts with it.
      assert.ok((cachedOf(second.result) ?? 0) >= first.result.usage.prompt_tokens - 1, `${cachedOf(second.result)} cached of ${second.result.usage.prompt_tokens}`)
      assert.ok(second.ms < first.ms / 2, `turn 2 ${Math.round(second.ms)} ms vs turn 1 ${Math.round(first.ms)} ms`)
    })

    it('should give a prompt the free sequence holding its prefix, not the one used last', async () => {
      // Two sequences: A fills one, B (sharing only the template's first tokens) the other, then A again.
      await timed(cached!, conversation(3, 40))
      await timed(cached!, conversation(4, 40))
      const again = await timed(cached!, conversation(3, 40))
      assert.equal(cachedOf(again.result), again.result.usage.prompt_tokens - 1)
    })

    it('should reuse nothing with the prompt cache off', async () => {
      const first = await timed(clean!, conversation(5, 40))
      const second = await timed(clean!, conversation(5, 40))
      assert.deepEqual([cachedOf(first.result), cachedOf(second.result)], [0, 0])
    })
  })

  // Acceptance 3 of issue 23: the official client reads the hit through an entry peer.
  describe('through the mesh, with the official openai client', () => {
    const peers: Peer[] = []
    const dirs: string[] = []
    let entryApi: string

    before(async () => {
      const backend = await createEmbeddedBackend({ modelFile, sequences: 1, contextSize: 2048 })
      const start = async (name: string, withBackend: boolean, bootstrap: string[]): Promise<Peer> => {
        const dataDir = await mkdtemp(join(tmpdir(), 'harombe-prompt-cache-'))
        dirs.push(dataDir)
        const peer = createPeer({ name, dataDir, apiHost: '127.0.0.1', apiPort: 0, listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, profile: 'test', bootstrap, ...(withBackend ? { backend } : {}) })
        peers.push(peer)
        await peer.start()
        return peer
      }
      // b serves (and closes the backend when it stops); a only routes, so every answer crosses the mesh.
      const b = await start('b', true, [])
      const a = await start('a', false, [b.info().meshAddrs[0] ?? ''])
      entryApi = a.info().apiUrl
      await waitForView(a, view => view.peers.some(p => p.name === 'b' && p.state === 'alive' && p.models.includes(HEAVY_MODEL_NAME)), 10_000, 'b alive with harombe-heavy')
    })
    after(async () => {
      await Promise.all(peers.splice(0).map(async p => { await p.stop().catch(() => {}) }))
      await Promise.all(dirs.splice(0).map(async d => { await rm(d, { recursive: true, force: true }) }))
    })

    it('should read usage.prompt_tokens_details.cached_tokens, whole and streamed', async () => {
      const client = new OpenAI({ baseURL: `${entryApi}/v1`, apiKey: 'unused', maxRetries: 0, timeout: COMPLETION_MS })
      const request = conversation(6)
      const messages = request.messages.map(m => ({ role: m.role, content: m.content ?? '' })) as OpenAI.ChatCompletionMessageParam[]
      const body = { model: HEAVY_MODEL_NAME, messages, max_tokens: 4, temperature: 0 }

      const { data: cold, response } = await client.chat.completions.create(body).withResponse()
      assert.equal(response.headers.get('x-harombe-node'), 'b')
      assert.equal(cold.usage?.prompt_tokens_details?.cached_tokens, 0, 'a cold prompt: a figure, 0')

      const { data: warm } = await client.chat.completions.create(body).withResponse()
      assert.equal(warm.usage?.prompt_tokens_details?.cached_tokens, (warm.usage?.prompt_tokens ?? 0) - 1)

      const stream = await client.chat.completions.create({ ...body, stream: true, stream_options: { include_usage: true } })
      let usage: OpenAI.CompletionUsage | undefined
      for await (const chunk of stream) if (chunk.usage != null) usage = chunk.usage
      assert.ok(usage != null, 'a usage chunk')
      assert.equal(usage.prompt_tokens_details?.cached_tokens, usage.prompt_tokens - 1)
    })
  })
})
