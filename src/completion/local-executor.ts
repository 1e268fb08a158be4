import type { Load } from '../membership/types.js'
import type { Backend, BackendRequest, CompleteOptions, CompletionResult } from './types.js'
import { AbortedError, BusyError } from './errors.js'

export interface LocalExecutorInit {
  backend: Backend
  /** Requests beyond capacity wait here; beyond this many the peer answers busy. */
  maxQueue: number
  /** Called on every change of active/queued, so the announcement carries live load. */
  onLoad?: (load: Load) => void
}

export interface LocalExecutor {
  execute: (request: BackendRequest, options: CompleteOptions) => Promise<CompletionResult>
  load: () => Load
}

/**
 * Runs completions on this peer's backend: at most `capacity` at once, then a bounded FIFO
 * queue, then `busy` (retryable — the caller tries the next peer). A queued request whose
 * caller aborts leaves the queue at once.
 */
export function createLocalExecutor (init: LocalExecutorInit): LocalExecutor {
  const capacity = Math.max(1, init.backend.capacity)
  let active = 0
  const waiting: Array<{ start: () => void, signal: AbortSignal }> = []

  const load = (): Load => ({ active, queued: waiting.length, capacity })
  const report = (): void => { init.onLoad?.(load()) }

  const acquire = async (signal: AbortSignal): Promise<void> => {
    if (signal.aborted) throw new AbortedError('aborted before start')
    if (active < capacity) {
      active++
      report()
      return
    }
    if (waiting.length >= init.maxQueue) {
      throw new BusyError(`at capacity (${active} running, ${waiting.length} queued)`)
    }
    await new Promise<void>((resolve, reject) => {
      const entry = {
        signal,
        start: () => {
          signal.removeEventListener('abort', onAbort)
          resolve()
        }
      }
      const onAbort = (): void => {
        const i = waiting.indexOf(entry)
        if (i >= 0) waiting.splice(i, 1)
        report()
        reject(new AbortedError('aborted while queued'))
      }
      signal.addEventListener('abort', onAbort, { once: true })
      waiting.push(entry)
      report()
    })
  }

  const release = (): void => {
    const next = waiting.shift()
    if (next != null) {
      // The slot passes straight to the next request: `active` stays the same.
      next.start()
    } else {
      active--
    }
    report()
  }

  return {
    load,
    async execute (request, options) {
      await acquire(options.signal)
      try {
        return await init.backend.complete(request, options)
      } finally {
        release()
      }
    }
  }
}
