import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createEmbeddedBackend } from '../../src/backends/embedded.js'
import { ensureTinyModel, TINY_MODEL_NAME } from '../../src/backends/tiny-gguf.js'
import type { Backend } from '../../src/completion/types.js'

describe('embedded backend: embeddings and raw prompts (harombe-tiny)', function () {
  this.timeout(60_000)
  let dir: string
  let backend: Backend

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'harombe-embed-'))
    backend = await createEmbeddedBackend({ modelFile: await ensureTinyModel(dir), sequences: 1 })
  })
  after(async () => {
    await backend?.close()
    await rm(dir, { recursive: true, force: true })
  })

  it('should embed texts and token arrays into vectors of the model\'s width, deterministically', async () => {
    assert.ok(backend.embed != null)
    const signal = AbortSignal.timeout(30_000)
    const out = await backend.embed({ model: TINY_MODEL_NAME, input: ['the mesh', 'a peer'] }, { signal })
    assert.equal(out.model, TINY_MODEL_NAME)
    assert.equal(out.embeddings.length, 2)
    const width = out.embeddings[0]?.length ?? 0
    assert.ok(width > 0)
    assert.equal(out.embeddings[1]?.length, width)
    assert.ok(out.prompt_tokens >= 2)
    assert.ok(out.embeddings.every(v => v.every(Number.isFinite)))
    const again = await backend.embed({ model: TINY_MODEL_NAME, input: ['the mesh'] }, { signal })
    assert.deepEqual(Array.from(again.embeddings[0] ?? []), Array.from(out.embeddings[0] ?? []))
    const tokens = await backend.embed({ model: TINY_MODEL_NAME, input: [[1, 2, 3]] }, { signal })
    assert.equal(tokens.embeddings[0]?.length, width)
    assert.equal(tokens.prompt_tokens, 3)
  })

  it('should refuse an input over the context when truncate is off, and cut it otherwise', async () => {
    assert.ok(backend.embed != null)
    const signal = AbortSignal.timeout(30_000)
    const long = Array.from({ length: 20_000 }, (_, i) => i % 200 + 1)
    await assert.rejects(backend.embed({ model: TINY_MODEL_NAME, input: [long], truncate: false }, { signal }), /over the model's \d+-token context/)
    const cut = await backend.embed({ model: TINY_MODEL_NAME, input: [long] }, { signal })
    assert.equal(cut.embeddings.length, 1)
    assert.ok(cut.prompt_tokens < long.length)
  })

  it('should complete a raw prompt without the chat template, streamed and whole', async () => {
    const signal = AbortSignal.timeout(30_000)
    const prompt = 'the mesh routes'
    const chat = await backend.complete({ model: TINY_MODEL_NAME, messages: [{ role: 'user', content: prompt }], max_tokens: 4, temperature: 0 }, { signal })
    const raw = await backend.complete({ model: TINY_MODEL_NAME, messages: [{ role: 'user', content: prompt }], raw: true, max_tokens: 4, temperature: 0 }, { signal })
    // The template wraps the message in role markers; the raw prompt is the text's tokens alone.
    assert.ok(raw.usage.prompt_tokens < chat.usage.prompt_tokens, `raw ${raw.usage.prompt_tokens} vs chat ${chat.usage.prompt_tokens} prompt tokens`)
    assert.equal(raw.usage.prompt_tokens_details, undefined)
    assert.equal(raw.usage.completion_tokens, 4)
    assert.equal(raw.finish_reason, 'length')
    let streamed = ''
    const again = await backend.complete({ model: TINY_MODEL_NAME, messages: [{ role: 'user', content: prompt }], raw: true, max_tokens: 4, temperature: 0 }, { signal, onDelta: d => { streamed += d.content } })
    assert.equal(streamed, again.message.content)
    assert.equal(again.message.content, raw.message.content, 'greedy: the same text')
  })
})
