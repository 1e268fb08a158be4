// A wall-clock bound on work: `--request-timeout`. A completion that runs past it is aborted with
// a clean error (TimeoutError, 504), so a stream ends with an error event in its API's format
// rather than never — whether the client hangs on, the backend stalls, or the model never stops.
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
  /** Runs ended by the bound so far, for /metrics. */
  readonly expired: number
}

export function createDeadline (init: DeadlineInit): Deadline {
  const { timeoutMs } = init
  if (!Number.isInteger(timeoutMs) || timeoutMs < 0) throw new RangeError(`timeoutMs must be a whole number of milliseconds ≥ 0, got ${timeoutMs}`)
  let expired = 0

  return {
    get expired () { return expired },
    async run (signal, work) {
      if (timeoutMs === 0) return await work(signal)
      const controller = new AbortController()
      // Forwarded by hand, as in drain.ts: AbortSignal.any() on every completion showed up in the routed-path profile.
      const forward = (): void => { controller.abort(signal.reason) }
      if (signal.aborted) forward()
      else signal.addEventListener('abort', forward, { once: true })
      const timer = setTimeout(() => {
        expired++
        controller.abort(init.error(timeoutMs))
      }, timeoutMs)
      try {
        return await work(controller.signal)
      } catch (err) {
        // The work's own error after our abort (often AbortedError "client went away") says less than why we aborted.
        if (controller.signal.aborted && !signal.aborted) throw controller.signal.reason
        throw err
      } finally {
        clearTimeout(timer)
        signal.removeEventListener('abort', forward)
      }
    }
  }
}
