import assert from 'node:assert/strict'
import { createDrain } from '../../src/completion/drain.js'
import { NoPeerError, UnavailableError } from '../../src/completion/errors.js'

const init = {
  refuse: () => new NoPeerError('shutting down'),
  abort: (ms: number) => new UnavailableError(`drain timeout ${ms} ms`)
}

/** Work that ends after `ms`, or rejects with a bare AbortError when its signal fires (like fetch). */
async function work (ms: number, signal: AbortSignal): Promise<string> {
  return await new Promise((resolve, reject) => {
    const timer = setTimeout(() => { resolve(`done after ${ms}`) }, ms)
    signal.addEventListener('abort', () => {
      clearTimeout(timer)
      reject(Object.assign(new Error('aborted'), { name: 'AbortError' }))
    }, { once: true })
  })
}

describe('unit: drain', () => {
  it('should let work that ends before the deadline finish, and count it', async () => {
    const drain = createDrain(init)
    const running = drain.run(new AbortController().signal, async s => await work(20, s))
    assert.deepEqual(await drain.drain(1_000), { finished: 1, aborted: 0 })
    assert.equal(await running, 'done after 20')
  })

  it('should refuse new work once the drain began, with the refuse error', async () => {
    const drain = createDrain(init)
    void drain.drain(1_000)
    await assert.rejects(drain.run(new AbortController().signal, async s => await work(1, s)), { name: 'NoPeerError' })
  })

  it('should abort work still running at the deadline with the abort error, not the bare AbortError', async () => {
    const drain = createDrain(init)
    const running = drain.run(new AbortController().signal, async s => await work(10_000, s))
    const started = Date.now()
    assert.deepEqual(await drain.drain(50), { finished: 0, aborted: 1 })
    assert.ok(Date.now() - started < 1_000, 'drain returns once the aborted work settled')
    await assert.rejects(running, { name: 'UnavailableError', message: 'drain timeout 50 ms' })
  })

  it('should pass the caller\'s own abort through unchanged', async () => {
    const drain = createDrain(init)
    const caller = new AbortController()
    const running = drain.run(caller.signal, async s => await work(10_000, s))
    caller.abort()
    await assert.rejects(running, { name: 'AbortError' })
    assert.equal(drain.active, 0)
  })
})
