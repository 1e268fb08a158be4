// The heap in use right after the last major (mark-sweep-compact) collection: the figure a leak
// shows in. nodejs_heap_size_used_bytes is read at scrape time, anywhere between two collections,
// so it swings with the allocation rate; after a full collection only what is reachable remains
// (issue 25: the soak checks this grows ≤ 1 MB per hour).
import { constants, PerformanceObserver } from 'node:perf_hooks'
import { getHeapStatistics } from 'node:v8'

export interface HeapAfterGc {
  /** Bytes used as of the last major collection seen; undefined before the first one. */
  bytes: () => number | undefined
  /** Major collections seen since the watch began. */
  majorCollections: () => number
  close: () => void
}

export function watchHeapAfterGc (): HeapAfterGc {
  let bytes: number | undefined
  let count = 0
  const observer = new PerformanceObserver(list => {
    for (const entry of list.getEntries()) {
      const kind = (entry as { detail?: { kind?: number } }).detail?.kind
      if (kind !== constants.NODE_PERFORMANCE_GC_MAJOR) continue
      count++
      // Read in the observer callback, soon after the collection: a few allocations since then
      // are noise next to the megabytes a leak is measured in.
      bytes = getHeapStatistics().used_heap_size
    }
  })
  observer.observe({ entryTypes: ['gc'] })
  return { bytes: () => bytes, majorCollections: () => count, close: () => { observer.disconnect() } }
}
