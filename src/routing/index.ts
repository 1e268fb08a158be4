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
  SkippedCandidate,
  BalanceInput
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
export { chooseByAffinity, rendezvousScore } from './affinity.js'
export type { AffinityInput, AffinityMember, AffinityChoice } from './affinity.js'
export { DEFAULT_AFFINITY_CONFIG, DEFAULT_ROUTE_POLICY, ROUTE_POLICIES } from './affinity-config.js'
export type { AffinityConfig, RoutePolicyName } from './affinity-config.js'
export { createPrefixIndex } from './prefix-index.js'
export type { PrefixIndex, PrefixLookup, PrefixIndexConfig } from './prefix-index.js'
export { promptPrint, hashText } from './prompt-print.js'
export type { PromptPrint, AnchorKind } from './prompt-print.js'
export { createInFlight } from './in-flight.js'
export type { InFlight } from './in-flight.js'
