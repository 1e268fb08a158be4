// Graceful shutdown's drain: work already running may finish (up to a deadline), new work is
// refused at once, and whatever still runs at the deadline is aborted with a clean error — a
// stream then ends with an error trailer or event, never a silent truncation.
import { runLinked } from '../util/linked-abort.js'
import { withComplete } from './backend-wrapper.js'
import type { CompletionError } from './errors.js'
import type { Deadline } from './deadline.js'
import type { Backend } from './types.js'

export interface DrainInit {
  /** What new work gets once the drain began. */
  refuse: () => CompletionError
  /** Why work still running at the deadline is aborted. */
  abort: (timeoutMs: number) => CompletionError
}

export interface DrainResult {
  /** Work that ended by itself during the drain. */
  finished: number
  /** Work aborted at the deadline. */
  aborted: number
}

export interface Drain {
  /**
   * Runs `work`, unless the drain began; its signal also fires when the drain deadline passes, and
   * at `deadline`'s bound when one is given (as `deadline.run` inside would, without a second controller).
   */
  run: <T>(signal: AbortSignal, work: (signal: AbortSignal) => Promise<T>, deadline?: Deadline) => Promise<T>
  /** Work running right now. */
  readonly active: number
  /**
   * Refuses new work from this call on, waits up to `timeoutMs` for running work to end, then
   * aborts the rest and waits (briefly) until it has reported its error. Idempotent.
   */
  drain: (timeoutMs: number) => Promise<DrainResult>
}

/** Aborted work gets this long to write its error before the caller closes connections anyway. */
const ABORT_SETTLE_MS = 1_000

export function createDrain (init: DrainInit): Drain {
  const running = new Set<AbortController>()
  const idleWaiters = new Set<() => void>()
  let drained: Promise<DrainResult> | undefined

  const whenIdle = async (timeoutMs: number): Promise<void> => {
    if (running.size === 0) return
    await new Promise<void>(resolve => {
      const done = (): void => {
        clearTimeout(timer)
        idleWaiters.delete(done)
        resolve()
      }
      const timer = setTimeout(done, timeoutMs)
      idleWaiters.add(done)
    })
  }

  const drainOnce = async (timeoutMs: number): Promise<DrainResult> => {
    const started = running.size
    await whenIdle(timeoutMs)
    const late = [...running]
    for (const controller of late) controller.abort(init.abort(timeoutMs))
    await whenIdle(ABORT_SETTLE_MS)
    return { finished: started - late.length, aborted: late.length }
  }

  return {
    get active () { return running.size },
    async run (signal, work, deadline) {
      if (drained != null) throw init.refuse()
      const controller = new AbortController()
      running.add(controller)
      const disarm = deadline?.arm(controller)
      try {
        return await runLinked(signal, controller, work)
      } finally {
        disarm?.()
        running.delete(controller)
        if (running.size === 0) for (const wake of [...idleWaiters]) wake()
      }
    },
    async drain (timeoutMs) {
      drained ??= drainOnce(timeoutMs)
      return await drained
    }
  }
}

/** `backend` with every completion run through `drain` (and bounded by `deadline`); everything else passes straight through. */
export function drainableBackend (backend: Backend, drain: Drain, deadline?: Deadline): Backend {
  // Field by field (every CompleteOptions field): a spread here cost microseconds per completion.
  return withComplete(backend, async (request, options) => await drain.run(options.signal, async signal => await backend.complete(request, { signal, onDelta: options.onDelta }), deadline))
}
