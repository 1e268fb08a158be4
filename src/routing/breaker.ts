// Per-peer circuit breaker (Hystrix-style): after enough consecutive failures a peer is skipped
// for a cool-down, then one trial request decides whether it is back. The state machine is pure
// (the caller passes `now`); `createBreakers` is the small stateful registry the failover loop uses.
//
//   closed ──(failureThreshold consecutive failures)──► open
//   open ──(coolDownMs elapsed; computed on read, no timer)──► half-open
//   half-open ──(trial succeeds)──► closed
//   half-open ──(trial fails)──► open, with a fresh openedAt

import { MAX_TRACKED_PEERS, trimOldest } from '../util/capped.js'

export interface BreakerState {
  state: 'closed' | 'open' | 'half-open'
  /** Consecutive failures since the last success. */
  failures: number
  /** When the breaker last opened (ms, the caller's clock). */
  openedAt?: number
  /** When the half-open trial now in flight was handed out; unset while no trial is out. */
  trialStartedAt?: number
}

export interface BreakerOptions {
  /** Consecutive failures that open the breaker. */
  failureThreshold: number
  /** How long an open breaker rejects before it lets one trial through. */
  coolDownMs: number
  /** A trial that never reports (a lost success/failure call) stops blocking others after this long. */
  trialTimeoutMs: number
  /** Peers with a stored state at most (default MAX_TRACKED_PEERS); past it the oldest is forgotten. */
  maxPeers?: number
}

// One failure can be bad luck (a restart, a dropped connection) and failover already retries it on
// the next candidate; three in a row means the peer is broken.
export const DEFAULT_FAILURE_THRESHOLD = 3

// Hystrix sleeps 5 s; 10 s outlasts the membership path to `dead` (3 s suspect + 5 s suspicion on
// the LAN profile), so a crashed peer leaves the candidate list before the breaker lets a trial
// through, while a restarted backend is tried again within seconds.
export const DEFAULT_COOL_DOWN_MS = 10_000

// Only a trial whose outcome is never reported hits this; it must outlast any single attempt's
// time-to-first-token timeout so a slow trial is not joined by a second one.
export const DEFAULT_TRIAL_TIMEOUT_MS = 30_000

export const DEFAULT_BREAKER_OPTIONS: Readonly<BreakerOptions> = Object.freeze({
  failureThreshold: DEFAULT_FAILURE_THRESHOLD,
  coolDownMs: DEFAULT_COOL_DOWN_MS,
  trialTimeoutMs: DEFAULT_TRIAL_TIMEOUT_MS
})

/** A peer nobody has reported on: closed, no failures. */
export const CLOSED: Readonly<BreakerState> = Object.freeze({ state: 'closed', failures: 0 })

/**
 * The state as of `now`: an open breaker whose cool-down has elapsed (`now - openedAt >=
 * coolDownMs`) reads as half-open, and a trial older than `trialTimeoutMs` is treated as lost.
 * Reading never needs a timer, which keeps the registry free of intervals to stop.
 */
export function breakerView (state: BreakerState, now: number, opts: BreakerOptions = DEFAULT_BREAKER_OPTIONS): BreakerState {
  if (state.state === 'open') {
    if (state.openedAt != null && now - state.openedAt >= opts.coolDownMs) {
      return withoutTrial({ ...state, state: 'half-open' })
    }
    return state
  }
  if (state.state === 'half-open' && state.trialStartedAt != null && now - state.trialStartedAt >= opts.trialTimeoutMs) {
    return withoutTrial(state)
  }
  return state
}

/** True when a request must not be sent: open, or half-open with its one trial already out. */
export function breakerIsOpen (state: BreakerState, now: number, opts: BreakerOptions = DEFAULT_BREAKER_OPTIONS): boolean {
  const view = breakerView(state, now, opts)
  return view.state === 'open' || (view.state === 'half-open' && view.trialStartedAt != null)
}

/**
 * Asks to send one request. Closed: always allowed. Half-open: allowed once, and the returned
 * state records the trial so the next caller is refused until it reports. Open: refused.
 */
export function breakerAcquire (state: BreakerState, now: number, opts: BreakerOptions = DEFAULT_BREAKER_OPTIONS): { allowed: boolean, state: BreakerState } {
  const view = breakerView(state, now, opts)
  if (view.state === 'closed') return { allowed: true, state: view }
  if (view.state === 'open' || view.trialStartedAt != null) return { allowed: false, state: view }
  return { allowed: true, state: { ...view, trialStartedAt: now } }
}

/** The trial ended without a verdict on the peer (the client went away): let another one through. */
export function breakerRelease (state: BreakerState): BreakerState {
  return state.trialStartedAt == null ? state : withoutTrial(state)
}

/**
 * Any success closes the breaker and clears the failure count: the peer has just proven it can
 * answer, whether this was the half-open trial or a request that was already in flight.
 */
export function breakerOnSuccess (_state: BreakerState): BreakerState {
  return CLOSED
}

export function breakerOnFailure (state: BreakerState, now: number, opts: BreakerOptions = DEFAULT_BREAKER_OPTIONS): BreakerState {
  const view = breakerView(state, now, opts)
  const failures = view.failures + 1
  switch (view.state) {
    case 'closed':
      return failures >= opts.failureThreshold ? { state: 'open', failures, openedAt: now } : { state: 'closed', failures }
    case 'half-open':
      // The trial (or any request seen during half-open) failed: back to a full cool-down.
      return { state: 'open', failures, openedAt: now }
    case 'open':
      // A late report from a request sent before the breaker opened; it must not extend the cool-down.
      return { ...view, failures }
  }
}

function withoutTrial (state: BreakerState): BreakerState {
  const { trialStartedAt: _, ...rest } = state
  return rest
}

/** The per-peer registry the failover loop and the router share. Methods are safe to pass unbound. */
export interface Breakers {
  /** For the router: true while the peer must be skipped (open, or half-open with its trial out). */
  isOpen: (peerId: string, now: number) => boolean
  /** The peer's state as of `now` (closed for unknown peers). */
  state: (peerId: string, now: number) => BreakerState
  /**
   * Call right before sending to the peer. False means skip it. In half-open the first caller gets
   * the trial and everyone else sees the breaker as open until that trial reports.
   */
  acquire: (peerId: string, now: number) => boolean
  /** The attempt ended with no verdict on the peer (caller aborted): frees a half-open trial. */
  release: (peerId: string) => void
  success: (peerId: string) => void
  failure: (peerId: string, now: number) => void
  /** Drop a peer that left the view, so the registry does not grow with churn. */
  forget: (peerId: string) => void
  /** Every peer with a non-default state; with `now`, as of that time (for /api/cluster and metrics). */
  snapshot: (now?: number) => ReadonlyMap<string, BreakerState>
  /** Peers with a stored (non-default) state. */
  size: () => number
}

export function createBreakers (init: Partial<BreakerOptions> = {}): Breakers {
  const opts: BreakerOptions = { ...DEFAULT_BREAKER_OPTIONS, ...init }
  // Only peers with failures are stored; a success deletes the entry, so healthy peers cost nothing.
  // Forgotten with the member, but an attempt still running when its peer is forgotten records its
  // failure afterwards: the cap keeps such strays from adding up (the oldest entry goes first).
  const states = new Map<string, BreakerState>()
  const limit = opts.maxPeers ?? MAX_TRACKED_PEERS
  const get = (peerId: string): BreakerState => states.get(peerId) ?? CLOSED

  return {
    isOpen: (peerId, now) => breakerIsOpen(get(peerId), now, opts),
    state: (peerId, now) => breakerView(get(peerId), now, opts),
    acquire: (peerId, now) => {
      const result = breakerAcquire(get(peerId), now, opts)
      if (states.has(peerId)) states.set(peerId, result.state)
      return result.allowed
    },
    release: (peerId) => {
      const current = states.get(peerId)
      if (current != null) states.set(peerId, breakerRelease(current))
    },
    success: (peerId) => { states.delete(peerId) },
    failure: (peerId, now) => {
      const next = breakerOnFailure(get(peerId), now, opts)
      states.delete(peerId)
      states.set(peerId, next)
      trimOldest(states, limit)
    },
    forget: (peerId) => { states.delete(peerId) },
    size: () => states.size,
    snapshot: (now) => {
      const out = new Map<string, BreakerState>()
      for (const [peerId, state] of states) out.set(peerId, now == null ? { ...state } : breakerView(state, now, opts))
      return out
    }
  }
}
