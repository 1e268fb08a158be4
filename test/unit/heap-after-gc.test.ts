import assert from 'node:assert/strict'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { watchHeapAfterGc } from '../../src/http/heap-after-gc.js'

// The heap-after-collection reading /metrics exposes (issue 25): it must follow major collections,
// and only those.

/** A full collection without --expose-gc on the command line. */
function fullGc (): void {
  setFlagsFromString('--expose-gc')
  ;(runInNewContext('gc') as () => void)()
}

const tick = async (): Promise<void> => { await new Promise(resolve => setTimeout(resolve, 50)) }

describe('heap after collection', () => {
  it('has no reading before a major collection, then the heap as of that collection', async () => {
    const heap = watchHeapAfterGc()
    try {
      assert.equal(heap.majorCollections(), 0)
      assert.equal(heap.bytes(), undefined)
      fullGc()
      await tick()
      assert.ok(heap.majorCollections() >= 1)
      const first = heap.bytes()
      assert.ok(first != null && first > 0)
      // Garbage allocated after the collection is not in the reading until the next one.
      const seen = heap.majorCollections()
      let junk: unknown[] | undefined = Array.from({ length: 200_000 }, (_, i) => ({ i }))
      await tick()
      // (unless V8 chose to run a major collection meanwhile: then the reading is a new one)
      if (heap.majorCollections() === seen) assert.equal(heap.bytes(), first)
      assert.ok((junk?.length ?? 0) > 0)
      junk = undefined
      fullGc()
      await tick()
      assert.ok(heap.majorCollections() >= 2)
    } finally {
      heap.close()
    }
  })

  it('stops counting once closed', async () => {
    const heap = watchHeapAfterGc()
    heap.close()
    fullGc()
    await tick()
    assert.equal(heap.majorCollections(), 0)
  })
})
