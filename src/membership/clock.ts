/**
 * Time as the membership schedulers see it. The libp2p peer runs on the wall clock; the simulator
 * (scripts/sim) runs the same schedulers in virtual time, so nothing here may call Date.now,
 * setTimeout or AbortSignal.timeout directly.
 */
export interface Clock {
  now: () => number
  /** A sub-millisecond monotonic reading for round-trip times; `now` when absent (virtual time). */
  precise?: () => number
  /** Calls `fn` once after `ms`; the handle cancels it. Real timers are unref'd: they never keep a process alive. */
  setTimeout: (fn: () => void, ms: number) => TimerHandle
  clearTimeout: (handle: TimerHandle | undefined) => void
}

export type TimerHandle = unknown

export const realClock: Clock = {
  now: () => Date.now(),
  precise: () => performance.now(),
  setTimeout: (fn, ms) => {
    const timer = setTimeout(fn, ms)
    timer.unref()
    return timer
  },
  clearTimeout: handle => { if (handle != null) clearTimeout(handle as NodeJS.Timeout) }
}

export class ProbeTimeoutError extends Error {
  static name = 'ProbeTimeoutError'
  name = ProbeTimeoutError.name
}

/** An AbortSignal that fires after `ms` on `clock`, and `clear` to release its timer early. */
export function clockTimeout (clock: Clock, ms: number, what = 'operation'): { signal: AbortSignal, clear: () => void } {
  const controller = new AbortController()
  const handle = clock.setTimeout(() => { controller.abort(new ProbeTimeoutError(`${what} timed out after ${ms} ms`)) }, ms)
  return { signal: controller.signal, clear: () => { clock.clearTimeout(handle) } }
}

/** A repeating timer on `clock` whose next delay is asked for each round (so it can be jittered or scaled). */
export function every (clock: Clock, delay: () => number, fn: () => void): { stop: () => void } {
  let handle: TimerHandle | undefined
  let stopped = false
  const schedule = (): void => {
    handle = clock.setTimeout(() => {
      if (stopped) return
      fn()
      if (!stopped) schedule()
    }, delay())
  }
  schedule()
  return { stop: () => { stopped = true; clock.clearTimeout(handle) } }
}
