import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createEmbeddedBackend } from '../../src/backends/embedded.js'
import { ensureTinyModel, TINY_MODEL_NAME } from '../../src/backends/tiny-gguf.js'
import type { Backend } from '../../src/completion/types.js'

describe('embedded backend embeddings (harombe-tiny)', function () {
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
})
