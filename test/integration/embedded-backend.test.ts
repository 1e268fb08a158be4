import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createEmbeddedBackend, ModelFileError } from '../../src/backends/embedded.js'
import { ensureTinyModel, TINY_MODEL_NAME } from '../../src/backends/tiny-gguf.js'
import type { Backend, BackendRequest, CompletionResult } from '../../src/completion/types.js'
import { rejection } from '../helpers/assertions.js'

const CAPACITY = 2

function request (fields: Partial<BackendRequest> = {}): BackendRequest {
  return { model: TINY_MODEL_NAME, messages: [{ role: 'user', content: 'tell me about the mesh' }], max_tokens: 16, temperature: 0, ...fields }
}

const signal = (): AbortSignal => new AbortController().signal

describe('embedded backend (harombe-tiny)', () => {
  let dir: string
  let modelFile: string
  let backend: Backend

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'harombe-embedded-'))
    modelFile = await ensureTinyModel(dir)
    backend = await createEmbeddedBackend({ modelFile, sequences: CAPACITY })
  })

  after(async () => {
    await backend?.close()
    await rm(dir, { recursive: true, force: true })
  })

  it('should serve the model under its file name and report healthy', async () => {
    assert.deepEqual(await backend.models(), [TINY_MODEL_NAME])
    assert.equal(backend.kind, 'embedded')
    assert.equal(backend.capacity, CAPACITY)
    assert.equal((await backend.health()).ok, true)
  })

  it('should stream deltas that concatenate to the final content', async () => {
    const deltas: string[] = []
    const result = await backend.complete(request(), { signal: signal(), onDelta: d => deltas.push(d.content) })
    assert.ok(deltas.length > 1, `expected several deltas, got ${deltas.length}`)
    assert.equal(deltas.join(''), result.message.content)
    assert.ok((result.message.content ?? '').trim() !== '', 'empty content')
    assert.equal(result.finish_reason, 'length')
    assert.equal(result.model, TINY_MODEL_NAME)
    assert.equal(result.usage.completion_tokens, 16)
    assert.ok(result.usage.prompt_tokens > 0)
  })

  it('should give identical output for temperature 0', async () => {
    const a = await backend.complete(request({ max_tokens: 32 }), { signal: signal() })
    const b = await backend.complete(request({ max_tokens: 32 }), { signal: signal() })
    assert.equal(a.message.content, b.message.content)
  })

  it('should settle with AbortedError within 100 ms of an abort mid-stream', async () => {
    const controller = new AbortController()
    let abortedAt = 0
    const pending = backend.complete(request({ max_tokens: 100_000 }), {
      signal: controller.signal,
      onDelta: () => {
        if (abortedAt !== 0) return
        abortedAt = performance.now()
        controller.abort()
      }
    })
    const err = await rejection(pending)
    const latency = performance.now() - abortedAt
    console.log(`      cancel latency: ${latency.toFixed(1)} ms`)
    assert.equal(err.name, 'AbortedError')
    assert.ok(abortedAt > 0, 'no delta arrived')
    assert.ok(latency < 100, `settled ${latency.toFixed(1)} ms after the abort`)
    // The sequence went back to the pool: the next request runs normally.
    assert.equal((await backend.complete(request(), { signal: signal() })).finish_reason, 'length')
  })

  it('should complete every request above capacity, never more than capacity at once', async () => {
    let active = 0
    let maxActive = 0
    const run = async (i: number): Promise<CompletionResult> => {
      let started = false
      try {
        return await backend.complete(request({ max_tokens: 24, messages: [{ role: 'user', content: `question ${i}` }] }), {
          signal: signal(),
          onDelta: () => {
            if (started) return
            started = true
            maxActive = Math.max(maxActive, ++active)
          }
        })
      } finally {
        if (started) active--
      }
    }
    const results = await Promise.all([0, 1, 2, 3, 4].map(run))
    for (const r of results) {
      assert.equal(r.finish_reason, 'length')
      assert.equal(r.usage.completion_tokens, 24)
    }
    assert.ok(maxActive <= CAPACITY, `${maxActive} generated at once with capacity ${CAPACITY}`)
  })

  it('should give up a queued request when its caller aborts', async () => {
    const busy = [0, 1].map(() => backend.complete(request({ max_tokens: 200 }), { signal: signal() }))
    const controller = new AbortController()
    const queued = backend.complete(request(), { signal: controller.signal })
    controller.abort()
    assert.equal((await rejection(queued)).name, 'AbortedError')
    await Promise.all(busy)
  })

  it('should accept tools and answer in text when the model makes no call', async () => {
    const result = await backend.complete(request({
      tools: [{ type: 'function', function: { name: 'get_weather', description: 'Current weather', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } } }]
    }), { signal: signal() })
    assert.equal(result.finish_reason, 'length')
    assert.ok((result.message.content ?? '') !== '')
    assert.equal(result.message.tool_calls, undefined)
  })

  describe('model file errors', () => {
    it('should throw ModelFileError for a missing file', async () => {
      const missing = join(dir, 'nope.gguf')
      const err = await rejection(createEmbeddedBackend({ modelFile: missing }))
      assert.ok(err instanceof ModelFileError)
      assert.equal(err.name, 'ModelFileError')
      assert.equal(err.message, `cannot load model ${missing}: no such file`)
    })

    it('should throw ModelFileError for a file of random bytes', async () => {
      const corrupt = join(dir, 'random.gguf')
      await writeFile(corrupt, Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919 + 13) % 251)))
      const err = await rejection(createEmbeddedBackend({ modelFile: corrupt }))
      assert.equal(err.name, 'ModelFileError')
      assert.equal(err.message, `cannot load model ${corrupt}: not a GGUF file`)
    })

    it('should throw ModelFileError for a truncated GGUF file', async () => {
      const truncated = join(dir, 'truncated.gguf')
      await writeFile(truncated, (await readFile(modelFile)).subarray(0, 5000))
      const err = await rejection(createEmbeddedBackend({ modelFile: truncated }))
      assert.equal(err.name, 'ModelFileError')
      assert.match(err.message, new RegExp(`^cannot load model ${truncated}: not a loadable GGUF model`))
      assert.doesNotMatch(err.message, /\n/)
    })
  })

  describe('limits and shutdown', () => {
    it('should refuse a prompt longer than the context with BadRequestError', async () => {
      const small = await createEmbeddedBackend({ modelFile, sequences: 1, contextSize: 256, modelName: 'small' })
      try {
        assert.deepEqual(await small.models(), ['small'])
        const err = await rejection(small.complete(request({ messages: [{ role: 'user', content: 'the mesh '.repeat(400) }] }), { signal: signal() }))
        assert.equal(err.name, 'BadRequestError')
      } finally {
        await small.close()
      }
    })

    it('should fail in-flight and new requests with UnavailableError after close', async () => {
      const closing = await createEmbeddedBackend({ modelFile, sequences: 1 })
      const inFlight = rejection(closing.complete(request({ max_tokens: 100_000 }), { signal: signal() }))
      const queued = rejection(closing.complete(request(), { signal: signal() }))
      await closing.close()
      assert.equal((await inFlight).name, 'UnavailableError')
      assert.equal((await queued).name, 'UnavailableError')
      assert.equal((await rejection(closing.complete(request(), { signal: signal() }))).name, 'UnavailableError')
      assert.equal((await closing.health()).ok, false)
      await closing.close() // idempotent
    })
  })
})
