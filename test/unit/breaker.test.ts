import assert from 'node:assert/strict'
import {
  CLOSED,
  DEFAULT_BREAKER_OPTIONS,
  breakerAcquire,
  breakerIsOpen,
  breakerOnFailure,
  breakerOnSuccess,
  breakerRelease,
  breakerView,
  createBreakers
} from '../../src/routing/breaker.js'
import type { BreakerOptions, BreakerState } from '../../src/routing/breaker.js'

// Small numbers so boundaries read plainly: opens at 3, half-open 1 000 ms after opening.
const OPTS: BreakerOptions = { failureThreshold: 3, coolDownMs: 1_000, trialTimeoutMs: 5_000 }

type Step =
  | { op: 'failure', at: number }
  | { op: 'success' }
  | { op: 'acquire', at: number }
  | { op: 'release' }

const fail = (at: number): Step => ({ op: 'failure', at })
const ok: Step = { op: 'success' }

function apply (state: BreakerState, steps: Step[]): BreakerState {
  for (const step of steps) {
    switch (step.op) {
      case 'failure': state = breakerOnFailure(state, step.at, OPTS); break
      case 'success': state = breakerOnSuccess(state); break
      case 'acquire': state = breakerAcquire(state, step.at, OPTS).state; break
      case 'release': state = breakerRelease(state); break
    }
  }
  return state
}

interface Row {
  name: string
  steps: Step[]
  /** When the result is read. */
  at: number
  state: BreakerState['state']
  failures: number
  openedAt?: number
  /** Whether the router should skip the peer at `at`. */
  isOpen: boolean
}

describe('breaker', () => {
  it('should default to 3 failures and a 10 s cool-down', () => {
    assert.equal(DEFAULT_BREAKER_OPTIONS.failureThreshold, 3)
    assert.equal(DEFAULT_BREAKER_OPTIONS.coolDownMs, 10_000)
  })

  describe('transitions', () => {
    const rows: Row[] = [
      { name: 'start closed', steps: [], at: 0, state: 'closed', failures: 0, isOpen: false },
      { name: 'stay closed after one failure', steps: [fail(0)], at: 0, state: 'closed', failures: 1, isOpen: false },
      { name: 'stay closed one failure below the threshold', steps: [fail(0), fail(10)], at: 10, state: 'closed', failures: 2, isOpen: false },
      { name: 'open at the threshold, recording when', steps: [fail(0), fail(10), fail(20)], at: 20, state: 'open', failures: 3, openedAt: 20, isOpen: true },
      { name: 'stay open 1 ms before the cool-down ends', steps: [fail(0), fail(10), fail(20)], at: 1_019, state: 'open', failures: 3, openedAt: 20, isOpen: true },
      { name: 'read half-open exactly when the cool-down ends', steps: [fail(0), fail(10), fail(20)], at: 1_020, state: 'half-open', failures: 3, openedAt: 20, isOpen: false },
      { name: 'stay half-open long after the cool-down', steps: [fail(0), fail(10), fail(20)], at: 60_000, state: 'half-open', failures: 3, isOpen: false },
      { name: 'close when the half-open trial succeeds', steps: [fail(0), fail(10), fail(20), { op: 'acquire', at: 1_020 }, ok], at: 1_030, state: 'closed', failures: 0, isOpen: false },
      { name: 'reopen with a new openedAt when the half-open trial fails', steps: [fail(0), fail(10), fail(20), { op: 'acquire', at: 1_500 }, fail(1_600)], at: 1_600, state: 'open', failures: 4, openedAt: 1_600, isOpen: true },
      { name: 'wait a full cool-down again after a failed trial', steps: [fail(0), fail(10), fail(20), fail(1_600)], at: 2_599, state: 'open', failures: 4, openedAt: 1_600, isOpen: true },
      { name: 'go half-open again a cool-down after a failed trial', steps: [fail(0), fail(10), fail(20), fail(1_600)], at: 2_600, state: 'half-open', failures: 4, isOpen: false },
      { name: 'reset the failure count on a success', steps: [fail(0), fail(10), ok, fail(20), fail(30)], at: 30, state: 'closed', failures: 2, isOpen: false },
      { name: 'not extend the cool-down on a late failure while open', steps: [fail(0), fail(10), fail(20), fail(500)], at: 500, state: 'open', failures: 4, openedAt: 20, isOpen: true },
      { name: 'see a half-open breaker with its trial out as open', steps: [fail(0), fail(10), fail(20), { op: 'acquire', at: 1_100 }], at: 1_200, state: 'half-open', failures: 3, isOpen: true },
      { name: 'free the trial on release without a verdict', steps: [fail(0), fail(10), fail(20), { op: 'acquire', at: 1_100 }, { op: 'release' }], at: 1_200, state: 'half-open', failures: 3, isOpen: false },
      { name: 'treat a trial that never reports as lost after the trial timeout', steps: [fail(0), fail(10), fail(20), { op: 'acquire', at: 1_100 }], at: 6_100, state: 'half-open', failures: 3, isOpen: false }
    ]

    for (const row of rows) {
      it(`should ${row.name}`, () => {
        const state = breakerView(apply(CLOSED, row.steps), row.at, OPTS)
        assert.equal(state.state, row.state, 'state')
        assert.equal(state.failures, row.failures, 'failures')
        if (row.openedAt != null) assert.equal(state.openedAt, row.openedAt, 'openedAt')
        assert.equal(breakerIsOpen(state, row.at, OPTS), row.isOpen, 'isOpen')
      })
    }
  })

  describe('breakerAcquire', () => {
    const opened = apply(CLOSED, [fail(0), fail(0), fail(0)])

    it('should always allow a request while closed', () => {
      const first = breakerAcquire(CLOSED, 0, OPTS)
      const second = breakerAcquire(first.state, 0, OPTS)
      assert.deepEqual([first.allowed, second.allowed], [true, true])
    })

    it('should refuse while open', () => {
      assert.equal(breakerAcquire(opened, 999, OPTS).allowed, false)
    })

    it('should allow exactly one trial at a time while half-open', () => {
      const first = breakerAcquire(opened, 1_000, OPTS)
      const second = breakerAcquire(first.state, 1_001, OPTS)
      assert.equal(first.allowed, true, 'first caller gets the trial')
      assert.equal(second.allowed, false, 'second caller waits for the trial to report')
      const afterRelease = breakerAcquire(breakerRelease(second.state), 1_002, OPTS)
      assert.equal(afterRelease.allowed, true, 'a released trial can be taken again')
    })

    it('should not change its input state', () => {
      const before = structuredClone(opened)
      breakerAcquire(opened, 1_000, OPTS)
      assert.deepEqual(opened, before)
    })
  })

  describe('createBreakers', () => {
    it('should report unknown peers as closed', () => {
      const b = createBreakers(OPTS)
      assert.equal(b.isOpen('p', 0), false)
      assert.deepEqual(b.state('p', 0), { state: 'closed', failures: 0 })
      assert.equal(b.snapshot().size, 0)
    })

    it('should open a peer after threshold failures and keep peers apart', () => {
      const b = createBreakers(OPTS)
      for (const at of [0, 1, 2]) b.failure('p', at)
      b.failure('q', 2)
      assert.equal(b.isOpen('p', 2), true)
      assert.equal(b.isOpen('q', 2), false)
      assert.equal(b.acquire('p', 2), false)
    })

    it('should hand the half-open trial to one caller until it reports', () => {
      const b = createBreakers(OPTS)
      for (const at of [0, 0, 0]) b.failure('p', at)
      assert.equal(b.isOpen('p', 1_000), false, 'half-open: the router keeps it')
      assert.equal(b.acquire('p', 1_000), true, 'first caller takes the trial')
      assert.equal(b.isOpen('p', 1_001), true, 'others see it as open')
      assert.equal(b.acquire('p', 1_001), false, 'a second caller is refused')
      b.success('p')
      assert.equal(b.isOpen('p', 1_002), false)
      assert.equal(b.acquire('p', 1_002), true)
      assert.equal(b.acquire('p', 1_002), true, 'closed again: no trial limit')
    })

    it('should reopen with a new cool-down when the trial fails', () => {
      const b = createBreakers(OPTS)
      for (const at of [0, 0, 0]) b.failure('p', at)
      assert.equal(b.acquire('p', 1_000), true)
      b.failure('p', 1_500)
      assert.deepEqual(b.state('p', 1_500), { state: 'open', failures: 4, openedAt: 1_500 })
      assert.equal(b.isOpen('p', 2_499), true)
      assert.equal(b.isOpen('p', 2_500), false)
    })

    it('should free the trial on release', () => {
      const b = createBreakers(OPTS)
      for (const at of [0, 0, 0]) b.failure('p', at)
      assert.equal(b.acquire('p', 1_000), true)
      b.release('p')
      assert.equal(b.acquire('p', 1_001), true)
    })

    it('should keep at most maxPeers states, forgetting the one that failed least recently', () => {
      const b = createBreakers({ ...OPTS, maxPeers: 3 })
      for (const [peer, at] of [['a', 0], ['b', 1], ['c', 2], ['a', 3]] as const) b.failure(peer, at)
      assert.equal(b.size(), 3)
      b.failure('d', 4)
      assert.equal(b.size(), 3, 'never past the bound')
      assert.deepEqual([...b.snapshot().keys()].sort(), ['a', 'c', 'd'], 'b failed least recently: it goes')
      for (let i = 0; i < 50; i++) {
        b.failure(`stray-${i}`, 5 + i)
        assert.ok(b.size() <= 3)
      }
    })

    it('should reset the failure count on success and drop the entry', () => {
      const b = createBreakers(OPTS)
      b.failure('p', 0)
      b.failure('p', 1)
      b.success('p')
      b.failure('p', 2)
      b.failure('p', 3)
      assert.deepEqual(b.state('p', 3), { state: 'closed', failures: 2 })
      b.success('p')
      assert.equal(b.snapshot().has('p'), false)
    })

    it('should snapshot states as of a given time, and forget peers', () => {
      const b = createBreakers(OPTS)
      for (const at of [0, 0, 0]) b.failure('p', at)
      b.failure('q', 0)
      assert.equal(b.snapshot().get('p')?.state, 'open', 'stored state')
      assert.equal(b.snapshot(1_000).get('p')?.state, 'half-open', 'as of now')
      b.forget('p')
      assert.deepEqual([...b.snapshot().keys()], ['q'])
    })

    it('should work with methods passed unbound', () => {
      const { failure, isOpen } = createBreakers({ failureThreshold: 1 })
      failure('p', 0)
      assert.equal(isOpen('p', 0), true)
      assert.equal(isOpen('p', DEFAULT_BREAKER_OPTIONS.coolDownMs), false, 'default cool-down applies to unset options')
    })
  })
})
