export {
  route,
  candidatesFromView,
  policyFromConfig,
  isAnyModel,
  DEFAULT_POLICY
} from './router.js'
export type {
  RouteCandidate,
  RouteRequest,
  RoutingPolicy,
  RouteInput,
  RouteDecision,
  BreakerLookup,
  SkippedCandidate
} from './router.js'
export {
  createBreakers,
  breakerView,
  breakerIsOpen,
  breakerAcquire,
  breakerRelease,
  breakerOnSuccess,
  breakerOnFailure,
  CLOSED,
  DEFAULT_BREAKER_OPTIONS,
  DEFAULT_FAILURE_THRESHOLD,
  DEFAULT_COOL_DOWN_MS,
  DEFAULT_TRIAL_TIMEOUT_MS
} from './breaker.js'
export type { BreakerState, BreakerOptions, Breakers } from './breaker.js'
