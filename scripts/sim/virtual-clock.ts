// Virtual time for the membership simulator: the `Clock` the SWIM schedulers run on, with a timer
// queue that jumps from one due timer to the next instead of waiting for it.
import type { Clock, TimerHandle } from '../../src/membership/clock.js'

interface Timer {
  at: number
  /** Creation order: timers due at the same instant fire in the order they were set (as Node's do). */
  seq: number
  fn: () => void
  /** Cancelled or already fired: skipped when popped (lazy deletion keeps clearTimeout O(1)). */
  done: boolean
}

/**
 * A `Clock` in virtual milliseconds. `run(until)` fires due timers in time order and, after each,
 * lets every pending promise chain settle before the next: a `setImmediate` hop, because Node runs
 * the whole microtask queue (and process.nextTick) before any macrotask. That is enough because
 * nothing the SWIM code awaits involves real I/O in the simulator: the network's deliveries are
 * themselves timers here, and the stand-in signer resolves at once. Deterministic: the same
 * timers set in the same order fire in the same order.
 */
export class VirtualClock implements Clock {
  private t = 0
  private seq = 0
  private readonly heap: Timer[] = []
  /** Timers fired so far (the simulator's unit of work). */
  fired = 0

  now (): number {
    return this.t
  }

  setTimeout (fn: () => void, ms: number): TimerHandle {
    const timer: Timer = { at: this.t + Math.max(0, Number.isFinite(ms) ? ms : 0), seq: this.seq++, fn, done: false }
    this.push(timer)
    return timer
  }

  clearTimeout (handle: TimerHandle | undefined): void {
    if (handle != null) (handle as Timer).done = true
  }

  /** Timers still queued, cancelled ones included until they are popped. */
  get queued (): number {
    return this.heap.length
  }

  /** Runs every timer due up to `untilMs` (virtual), then leaves the clock at `untilMs`. */
  async run (untilMs: number): Promise<void> {
    await this.runUntil(() => false, untilMs)
  }

  /** Runs until `done()` holds (checked after every timer) or `untilMs`, whichever comes first; true if `done()` held. */
  async runUntil (done: () => boolean, untilMs: number): Promise<boolean> {
    await settle()
    if (done()) return true
    for (;;) {
      const next = this.heap[0]
      if (next == null || next.at > untilMs) break
      this.pop()
      if (next.done) continue
      next.done = true
      this.t = next.at
      this.fired++
      next.fn()
      await settle()
      if (done()) return true
    }
    if (untilMs > this.t) this.t = untilMs
    return done()
  }

  private before (a: Timer, b: Timer): boolean {
    return a.at < b.at || (a.at === b.at && a.seq < b.seq)
  }

  private push (timer: Timer): void {
    const h = this.heap
    h.push(timer)
    let i = h.length - 1
    while (i > 0) {
      const parent = (i - 1) >> 1
      const p = h[parent] as Timer
      if (!this.before(timer, p)) break
      h[i] = p
      i = parent
    }
    h[i] = timer
  }

  private pop (): void {
    const h = this.heap
    const last = h.pop()
    if (last == null || h.length === 0) return
    let i = 0
    const n = h.length
    for (;;) {
      const l = 2 * i + 1
      if (l >= n) break
      const r = l + 1
      const c = r < n && this.before(h[r] as Timer, h[l] as Timer) ? r : l
      const child = h[c] as Timer
      if (!this.before(child, last)) break
      h[i] = child
      i = c
    }
    h[i] = last
  }
}

/** One macrotask hop: every promise chain that can settle without a timer has settled after it. */
async function settle (): Promise<void> {
  await new Promise<void>(resolve => { setImmediate(resolve) })
}
