// A wall-clock bound on work: `--request-timeout`. A completion that runs past it is aborted with
// a clean error (TimeoutError, 504), so a stream ends with an error event in its API's format
// rather than never — whether the client hangs on, the backend stalls, or the model never stops.
import { runLinked } from '../util/linked-abort.js'
import type { CompletionError } from './errors.js'

export interface DeadlineInit {
  /** Bound on each run in ms; 0 = none. */
  timeoutMs: number
  /** Why a run was aborted at the bound. */
  error: (timeoutMs: number) => CompletionError
}

export interface Deadline {
  /** Runs `work`; its signal also fires (with `error`) when the run reaches the bound. */
  run: <T>(signal: AbortSignal, work: (signal: AbortSignal) => Promise<T>) => Promise<T>
  /**
   * Bounds a run whose controller the caller made for it alone (a drain's): aborts it with `error`
   * at the bound. Call the returned function when the run ends. One controller, and one link to
   * the caller's signal, then serve both: each cost microseconds per completion (profile).
   */
  arm: (controller: AbortController) => () => void
  /** Runs ended by the bound so far, for /metrics. */
  readonly expired: number
}

export function createDeadline (init: DeadlineInit): Deadline {
  const { timeoutMs } = init
  if (!Number.isInteger(timeoutMs) || timeoutMs < 0) throw new RangeError(`timeoutMs must be a whole number of milliseconds ≥ 0, got ${timeoutMs}`)
  let expired = 0

  const arm = (controller: AbortController): () => void => {
    if (timeoutMs === 0) return () => {}
    const timer = setTimeout(() => {
      expired++
      controller.abort(init.error(timeoutMs))
    }, timeoutMs)
    return () => { clearTimeout(timer) }
  }

  return {
    get expired () { return expired },
    arm,
    async run (signal, work) {
      if (timeoutMs === 0) return await work(signal)
      const controller = new AbortController()
      const disarm = arm(controller)
      try {
        return await runLinked(signal, controller, work)
      } finally {
        disarm()
      }
    }
  }
}
