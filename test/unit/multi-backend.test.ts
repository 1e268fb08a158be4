import assert from 'node:assert/strict'
import type { Backend, BackendRequest, CompletionResult } from '../../src/completion/types.js'
import { createMultiBackend } from '../../src/backends/multi.js'
import { silentLogger } from '../../src/log.js'

// The composite backend on fakes: routing by model, per-member capacity, listing failures.

interface Fake extends Backend {
  release: () => void
  running: number
  fail: boolean
}

function fake (models: string[], capacity: number): Fake {
  const waiters: Array<() => void> = []
  const self: Fake = {
    kind: 'test',
    capacity,
    running: 0,
    fail: false,
    release: () => { waiters.splice(0).forEach(w => { w() }) },
    models: async () => {
      if (self.fail) throw new Error('connection refused')
      return models
    },
    complete: async (request: BackendRequest): Promise<CompletionResult> => {
      self.running++
      await new Promise<void>(resolve => { waiters.push(resolve) })
      self.running--
      return { message: { role: 'assistant', content: request.model }, finish_reason: 'stop', model: request.model, usage: { prompt_tokens: 1, completion_tokens: 1 } }
    },
    health: async () => ({ ok: true, latencyMs: 1 }),
    close: async () => {}
  }
  return self
}

const req = (model: string): BackendRequest => ({ model, messages: [{ role: 'user', content: 'hi' }] })

describe('multi backend', () => {
  it('should run each model on its own member and hold each member to its capacity and queue', async () => {
    const small = fake(['small'], 1)
    const big = fake(['big'], 2)
    const multi = createMultiBackend([{ label: 'small', backend: small }, { label: 'big', backend: big }], silentLogger())
    assert.equal(multi.capacity, 3)
    await multi.models()
    const signal = new AbortController().signal
    // small: 1 running + 4 queued (4 per slot); the sixth is refused as busy, retryably
    const smallRuns = Array.from({ length: 5 }, async () => await multi.complete(req('small'), { signal }))
    await assert.rejects(multi.complete(req('small'), { signal }), (err: Error) => err.name === 'BusyError')
    // big is not held up by small's queue
    const bigRuns = [multi.complete(req('big'), { signal }), multi.complete(req('big'), { signal })]
    await new Promise(resolve => setImmediate(resolve))
    assert.deepEqual([small.running, big.running], [1, 2])
    assert.deepEqual(multi.loads().map(l => [l.label, l.load.active, l.load.queued]), [['small', 1, 4], ['big', 2, 0]])
    big.release()
    assert.deepEqual((await Promise.all(bigRuns)).map(r => r.message.content), ['big', 'big'])
    for (let i = 0; i < 5; i++) {
      small.release()
      await new Promise(resolve => setImmediate(resolve))
    }
    assert.equal((await Promise.all(smallRuns)).length, 5)
  })

  it('should refuse a model no member lists', async () => {
    const multi = createMultiBackend([{ label: 'a', backend: fake(['a'], 1) }], silentLogger())
    await multi.models()
    await assert.rejects(multi.complete(req('zzz'), { signal: new AbortController().signal }), (err: Error) => err.name === 'UnknownModelError')
  })

  it('should keep a member\'s models through one failed listing, drop them after two, and fail only when none answers', async () => {
    const a = fake(['a'], 1)
    const b = fake(['b'], 1)
    const multi = createMultiBackend([{ label: 'a', backend: a }, { label: 'b', backend: b }], silentLogger())
    assert.deepEqual(await multi.models(), ['a', 'b'])
    b.fail = true
    assert.deepEqual(await multi.models(), ['a', 'b'])
    assert.deepEqual(await multi.models(), ['a'])
    a.fail = true
    await assert.rejects(multi.models(), /no backend answers \(a: connection refused; b: connection refused\)/)
    b.fail = false
    assert.deepEqual(await multi.models(), ['b'], 'a server coming back is listed again')
  })

  it('should send embeddings and model details to the member that lists the model, and refuse one that cannot embed', async () => {
    const small = fake(['small-model'], 1)
    const big: Backend = {
      ...fake(['big-model'], 1),
      embed: async request => ({ model: request.model, embeddings: [Float32Array.of(1, 2)], prompt_tokens: 1 }),
      show: async model => ({ model, context_length: 4096 }),
      ps: async () => [{ model: 'big-model' }]
    }
    const multi = createMultiBackend([{ label: 'small', backend: small }, { label: 'big', backend: big }], silentLogger())
    await multi.models()
    const signal = AbortSignal.timeout(5_000)
    const result = await multi.embed?.({ model: 'big-model', input: ['x'] }, { signal })
    assert.deepEqual(Array.from(result?.embeddings[0] ?? []), [1, 2])
    await assert.rejects(async () => await multi.embed?.({ model: 'small-model', input: ['x'] }, { signal }), { name: 'EmbeddingRefusedError', message: /small cannot embed/ })
    await assert.rejects(async () => await multi.embed?.({ model: 'nobody', input: ['x'] }, { signal }), { name: 'UnknownModelError' })
    assert.equal((await multi.show?.('big-model', signal))?.context_length, 4096)
    assert.deepEqual(await multi.show?.('small-model', signal), { model: 'small-model' })
    assert.deepEqual(await multi.ps?.(signal), [{ model: 'big-model' }])
  })
})
