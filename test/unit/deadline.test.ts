import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import { createDeadline } from '../../src/completion/deadline.js'
import { createDrain } from '../../src/completion/drain.js'
import { AbortedError, TimeoutError, UnavailableError } from '../../src/completion/errors.js'

// `--request-timeout`: work past the bound is aborted with the deadline's own error (a clean
// TimeoutError, 504), whatever error the aborted work throws; a caller's abort stays the caller's.

/** Work that takes `ms` unless its signal fires first; then it throws as a backend does (AbortedError). */
const work = (ms: number) => async (signal: AbortSignal): Promise<string> => {
  await sleep(ms, undefined, { signal }).catch(() => { throw new AbortedError('completion aborted by the caller') })
  return 'done'
}

describe('deadline', () => {
  const timeoutError = (ms: number): TimeoutError => new TimeoutError(`ran longer than ${ms} ms`)

  const cases: Array<{ what: string, timeoutMs: number, workMs: number, callerAbortMs?: number, expected: 'done' | 'timeout' | 'aborted', expired: number }> = [
    { what: 'work within the bound finishes', timeoutMs: 1_000, workMs: 5, expected: 'done', expired: 0 },
    { what: 'work past the bound ends with the timeout error', timeoutMs: 30, workMs: 5_000, expected: 'timeout', expired: 1 },
    { what: '0 means no bound', timeoutMs: 0, workMs: 60, expected: 'done', expired: 0 },
    { what: 'a caller who leaves first gets their own error, not a timeout', timeoutMs: 1_000, workMs: 5_000, callerAbortMs: 20, expected: 'aborted', expired: 0 }
  ]
  for (const c of cases) {
    it(`should end as ${c.expected}: ${c.what}`, async () => {
      const deadline = createDeadline({ timeoutMs: c.timeoutMs, error: timeoutError })
      const caller = new AbortController()
      if (c.callerAbortMs != null) setTimeout(() => { caller.abort(new AbortedError('client went away')) }, c.callerAbortMs)
      const started = performance.now()
      const outcome = await deadline.run(caller.signal, work(c.workMs)).then(
        () => 'done',
        (err: Error) => err instanceof TimeoutError ? 'timeout' : err instanceof AbortedError ? 'aborted' : `other: ${err.message}`)
      assert.equal(outcome, c.expected)
      assert.equal(deadline.expired, c.expired)
      if (c.expected === 'timeout') assert.ok(performance.now() - started < c.timeoutMs + 500, 'the timeout fired late')
    })
  }

  // The peer lets its drain apply the deadline (one controller per run for both): the same outcomes.
  for (const c of cases) {
    it(`should end as ${c.expected} inside a drain's run: ${c.what}`, async () => {
      const deadline = createDeadline({ timeoutMs: c.timeoutMs, error: timeoutError })
      const drain = createDrain({ refuse: () => new UnavailableError('refused'), abort: () => new UnavailableError('drained') })
      const caller = new AbortController()
      if (c.callerAbortMs != null) setTimeout(() => { caller.abort(new AbortedError('client went away')) }, c.callerAbortMs)
      const outcome = await drain.run(caller.signal, work(c.workMs), deadline).then(
        () => 'done',
        (err: Error) => err instanceof TimeoutError ? 'timeout' : err instanceof AbortedError ? 'aborted' : `other: ${err.message}`)
      assert.equal(outcome, c.expected)
      assert.equal(deadline.expired, c.expired)
      assert.equal(drain.active, 0)
    })
  }

  it('should carry the bound in the error message', async () => {
    const deadline = createDeadline({ timeoutMs: 10, error: timeoutError })
    await assert.rejects(deadline.run(new AbortController().signal, work(5_000)), { name: 'CompletionTimeoutError', message: 'ran longer than 10 ms' })
  })

  it('should count every expired run and leave no timer behind a finished one', async () => {
    const deadline = createDeadline({ timeoutMs: 20, error: timeoutError })
    const signal = new AbortController().signal
    await Promise.allSettled([deadline.run(signal, work(5_000)), deadline.run(signal, work(5_000)), deadline.run(signal, work(1))])
    assert.equal(deadline.expired, 2)
    await sleep(40)
    assert.equal(deadline.expired, 2, 'the finished run\'s timer fired after all')
  })

  it('should refuse a bound that is not a whole number of ms', () => {
    for (const timeoutMs of [-1, 1.5, Number.NaN]) assert.throws(() => createDeadline({ timeoutMs, error: timeoutError }), RangeError)
  })
})
