import assert from 'node:assert/strict'
import { getEventListeners } from 'node:events'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { linkSignals } from '../../src/util/linked-abort.js'
import { signalDependants } from '../helpers/signal-dependants.js'

// linkSignals replaces AbortSignal.any() where a source outlives the work (issue 25): Node 20's
// AbortSignal.any() keeps a WeakRef per call in a long-lived source's dependants for ever.

function fullGc (): void {
  setFlagsFromString('--expose-gc')
  ;(runInNewContext('gc') as () => void)()
}

/** Heap after full collections, with a turn of the loop between them for finalizers. */
async function settledHeap (): Promise<number> {
  for (let i = 0; i < 3; i++) {
    fullGc()
    await new Promise(resolve => setTimeout(resolve, 20))
  }
  return process.memoryUsage().heapUsed
}

describe('linkSignals', () => {
  for (const which of [0, 1]) {
    it(`aborts with source ${which}'s reason, and detaches from the other`, () => {
      const sources = [new AbortController(), new AbortController()]
      const linked = linkSignals(sources.map(c => c.signal))
      assert.equal(linked.signal.aborted, false)
      const reason = new Error(`source ${which}`)
      sources[which]?.abort(reason)
      assert.equal(linked.signal.aborted, true)
      assert.equal(linked.signal.reason, reason)
      for (const c of sources) assert.equal(getEventListeners(c.signal, 'abort').length, 0)
    })
  }

  it('is aborted at once when a source already is', () => {
    const reason = new Error('before')
    const linked = linkSignals([new AbortController().signal, AbortSignal.abort(reason)])
    assert.equal(linked.signal.aborted, true)
    assert.equal(linked.signal.reason, reason)
    linked.release()
  })

  it('after release no longer follows, and leaves no listener on the sources', () => {
    const life = new AbortController()
    const call = new AbortController()
    const linked = linkSignals([life.signal, call.signal])
    assert.equal(getEventListeners(life.signal, 'abort').length, 1)
    linked.release()
    linked.release()
    assert.equal(getEventListeners(life.signal, 'abort').length, 0)
    assert.equal(getEventListeners(call.signal, 'abort').length, 0)
    life.abort()
    assert.equal(linked.signal.aborted, false)
  })

  it('adds no dependant to a long-lived source, where AbortSignal.any() adds one per call (the probe the sharing test uses)', () => {
    const life = new AbortController()
    for (let i = 0; i < 10; i++) linkSignals([life.signal, new AbortController().signal]).release()
    assert.equal(signalDependants(life.signal), 0)
    const control = new AbortController()
    const kept = Array.from({ length: 10 }, () => AbortSignal.any([control.signal, new AbortController().signal]))
    assert.equal(signalDependants(control.signal), kept.length)
  })

  it('retains nothing on a long-lived source over 100,000 released links (AbortSignal.any: ~5 MB)', async () => {
    const life = new AbortController()
    const before = await settledHeap()
    for (let i = 0; i < 100_000; i++) {
      const linked = linkSignals([life.signal, new AbortController().signal])
      linked.release()
    }
    const grown = await settledHeap() - before
    assert.ok(grown < 1_000_000, `heap grew ${grown} bytes`)
    assert.equal(getEventListeners(life.signal, 'abort').length, 0)
  })
})
