import type { Clock, TimerHandle } from '../../src/membership/clock.js'

/**
 * A clock for table tests of the membership schedulers: time moves only in `advance`, timers fire
 * in time order, and the promise chains each one starts settle before the next fires.
 */
export class ManualClock implements Clock {
  private time = 0
  private seq = 0
  private readonly timers = new Map<number, { at: number, fn: () => void }>()

  now = (): number => this.time

  setTimeout = (fn: () => void, ms: number): TimerHandle => {
    const id = ++this.seq
    this.timers.set(id, { at: this.time + Math.max(0, ms), fn })
    return id
  }

  clearTimeout = (handle: TimerHandle | undefined): void => {
    if (handle != null) this.timers.delete(handle as number)
  }

  async advance (ms: number): Promise<void> {
    const until = this.time + ms
    await settle()
    for (;;) {
      let next: [number, { at: number, fn: () => void }] | undefined
      for (const entry of this.timers) if (entry[1].at <= until && (next == null || entry[1].at < next[1].at || (entry[1].at === next[1].at && entry[0] < next[0]))) next = entry
      if (next == null) break
      this.timers.delete(next[0])
      this.time = next[1].at
      next[1].fn()
      await settle()
    }
    this.time = until
  }
}

/** Lets every pending promise continuation run (a macrotask turn follows all microtasks). */
async function settle (): Promise<void> {
  for (let i = 0; i < 3; i++) await new Promise(resolve => setImmediate(resolve))
}
