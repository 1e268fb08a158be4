import { BusyError } from './errors.js'

/**
 * Paces bytes to `bytesPerSecond` across every upload of this peer (a virtual clock: each take moves
 * a "next free" instant forward, and a sender waits only once it runs more than `burstMs` ahead).
 * `delayFor` is the pure part, so the pacing is table-tested without a clock.
 */
export interface RatePacer {
  /** Resolves when `bytes` may be sent; rejects when the signal aborts first. */
  take: (bytes: number, signal: AbortSignal) => Promise<void>
}

/** Pure: how long to wait before sending `bytes`, and the new next-free instant. */
export function delayFor (nextFree: number, now: number, bytes: number, bytesPerSecond: number, burstMs: number): { waitMs: number, nextFree: number } {
  // An idle uploader banks nothing: the clock restarts at now.
  const start = Math.max(nextFree, now)
  const next = start + (bytes * 1000) / bytesPerSecond
  return { waitMs: Math.max(0, next - now - burstMs), nextFree: next }
}

/** A burst of 100 ms: smooth enough not to starve other traffic, coarse enough for few timers. */
const BURST_MS = 100

export function createRatePacer (bytesPerSecond: number | undefined, now: () => number = Date.now): RatePacer {
  if (bytesPerSecond == null || bytesPerSecond <= 0) return { take: async () => {} }
  let nextFree = 0
  return {
    async take (bytes, signal) {
      const step = delayFor(nextFree, now(), bytes, bytesPerSecond, BURST_MS)
      nextFree = step.nextFree
      if (step.waitMs <= 0) return
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => { signal.removeEventListener('abort', onAbort); resolve() }, step.waitMs)
        const onAbort = (): void => { clearTimeout(timer); reject(signal.reason) }
        signal.addEventListener('abort', onAbort, { once: true })
      })
    }
  }
}

/** Concurrent uploads: a slot or BusyError at once (the puller has other sources; a queue here would hide them). */
export interface UploadSlots {
  readonly active: number
  acquire: () => () => void
}

export function createUploadSlots (max: number): UploadSlots {
  let active = 0
  return {
    get active () { return active },
    acquire () {
      if (active >= max) throw new BusyError(`serving ${active} uploads already (limit ${max})`)
      active++
      let released = false
      return () => {
        if (released) return
        released = true
        active--
      }
    }
  }
}
