// The routing policy (DESIGN "Routing") as one pure, synchronous function: candidates + request +
// policy + breaker states → an ordered list of peers to try, each with a reason a human can read.
// No clock, no I/O: the caller passes `now`, so every rule is a row in a unit-test table.
import { DEFAULT_FALLBACK_STRATEGY, DEFAULT_LOAD_BALANCE, DEFAULT_PREFER_LOCAL } from '../config/constants.js'
import type { ClusterView } from '../membership/view.js'
import type { Load, MemberState, Tier } from '../membership/types.js'
import type { BreakerState } from './breaker.js'
import { chooseByAffinity, type AffinityInput, type AffinityMember } from './affinity.js'

export type { AffinityInput } from './affinity.js'

/** A peer the router may choose: a mesh member (self included) or a listed HTTP-only node. */
export interface RouteCandidate {
  id: string
  name: string
  /** Exact model names it serves. An empty list serves nothing, not even `auto`. */
  models: readonly string[]
  /** Model digests where known: a handover continues only on the same model (continuation.ts). */
  digests?: Readonly<Record<string, string>>
  tier: Tier
  enabled: boolean
  state: MemberState
  load: Load
  /** Measured round trip; unknown sorts after every known latency. */
  latencyMs?: number
  /** How a request reaches it: this process, the mesh protocol, or the seed's HTTP path. */
  via: 'local' | 'mesh' | 'http'
}

export interface RouteRequest {
  /** Exact model name; `auto` or undefined accepts any model. */
  model?: string
  tier?: Tier
}

export interface RoutingPolicy {
  preferLocal: boolean
  fallbackStrategy: 'graceful' | 'strict'
  loadBalance: boolean
}

export const DEFAULT_POLICY: Readonly<RoutingPolicy> = Object.freeze({
  preferLocal: DEFAULT_PREFER_LOCAL,
  fallbackStrategy: DEFAULT_FALLBACK_STRATEGY,
  loadBalance: DEFAULT_LOAD_BALANCE
})

/**
 * Breaker states by peer id, or a predicate such as `Breakers.isOpen`. With a map, `half-open`
 * is eligible (it is how the peer gets its one trial); the predicate answers that itself.
 */
export type BreakerLookup = ReadonlyMap<string, BreakerState['state']> | ((peerId: string, now: number) => boolean)

/**
 * Load this peer knows for sure (policies `in-flight` and `affinity`). Absent: the announced (or
 * trailer) load alone and ties by name, the `announced` policy, as before issue 23.
 */
export interface BalanceInput {
  /** Requests this peer has in flight to each peer id (itself included); absent = 0. */
  inFlight: ReadonlyMap<string, number>
  /** [0, 1): breaks ties among equal peers, so concurrent requests do not herd. Injected for tests. */
  random: () => number
}

export interface RouteInput<C extends RouteCandidate = RouteCandidate> {
  candidates: readonly C[]
  request: RouteRequest
  selfId: string
  policy: RoutingPolicy
  breakers?: BreakerLookup
  now: number
  balance?: BalanceInput
  /** Prefix affinity (policy `affinity`); used only with `balance` and `policy.loadBalance`. */
  affinity?: AffinityInput
}

/** A candidate the router did not choose, and why (for `no_peer` messages and the demo). */
export interface SkippedCandidate {
  id: string
  name: string
  reason: string
}

export type RouteDecision<C extends RouteCandidate = RouteCandidate> =
  | { ok: true, candidates: Array<C & { reason: string }>, skipped: SkippedCandidate[] }
  | { ok: false, code: 'unknown_model' | 'no_peer', reason: string, skipped: SkippedCandidate[] }

/** The cluster file's `routing` section (snake_case) as a policy. */
export function policyFromConfig (routing: { prefer_local: boolean, fallback_strategy: 'graceful' | 'strict', load_balance: boolean }): RoutingPolicy {
  return { preferLocal: routing.prefer_local, fallbackStrategy: routing.fallback_strategy, loadBalance: routing.load_balance }
}

/**
 * Every member of the view as a candidate: self is `local`, everyone else `mesh`. Dead and left
 * members are included so the router can tell "unknown model" from "known but unreachable".
 * Self's latency is 0 unless measured: serving locally crosses no network.
 */
export function candidatesFromView (view: ClusterView, latencies: ReadonlyMap<string, number>): RouteCandidate[] {
  const out: RouteCandidate[] = []
  for (const member of view.members.values()) {
    const ann = member.announcement
    const self = member.peerId === view.self
    const candidate: RouteCandidate = {
      id: member.peerId,
      name: ann.name,
      models: ann.models,
      ...(ann.digests != null ? { digests: ann.digests } : {}),
      tier: ann.tier,
      enabled: ann.enabled,
      state: member.state,
      load: ann.load,
      via: self ? 'local' : 'mesh'
    }
    const latency = latencies.get(member.peerId) ?? (self ? 0 : undefined)
    if (latency != null) candidate.latencyMs = latency
    out.push(candidate)
  }
  return out
}

export function isAnyModel (model: string | undefined): boolean {
  return model == null || model === 'auto'
}

/**
 * Rules:
 * 1. Eligible: enabled, alive, serves the model (exact name; `auto`/undefined = any model, but a
 *    peer with no models serves nothing — a `--backend none` peer must not attract requests),
 *    breaker not open (half-open is eligible: that is its one trial).
 * 2. Tiers: the requested tier first. `graceful` then tries lower tiers down to 0, then higher
 *    ones ascending; `strict` only the requested tier. With no tier requested, every tier is
 *    eligible, lowest (fastest, cheapest) first.
 * 3. Within a tier: with `loadBalance`, least `(active+queued)/capacity` (capacity 0 sorts last);
 *    ties → self first when `preferLocal` → lower latency (unknown last) → name → id.
 *    Without `loadBalance`: self first when `preferLocal` → latency → name → id.
 *    With `balance` (and `loadBalance`): the load is the larger of the announced one and this
 *    peer's own requests in flight to it, and ties after `preferLocal` go by latency within
 *    LATENCY_TIE_MS, then at random: equal peers share concurrent requests instead of the first
 *    name taking them all.
 * 4. With `affinity` as well, each tier's first peer is chosen by chooseByAffinity (warm prefix,
 *    session key, rendezvous with bounded load); the others keep the order of rule 3.
 * `unknown_model` when no known candidate in any state serves the model; `no_peer` when some do
 * but none is eligible, with each one's reason.
 */
export function route<C extends RouteCandidate> (input: RouteInput<C>): RouteDecision<C> {
  const { candidates, request, policy, selfId, now } = input
  const model = isAnyModel(request.model) ? undefined : request.model
  const tier = request.tier
  const strict = tier != null && policy.fallbackStrategy === 'strict'
  const breakerOf = breakerReader(input.breakers, now)

  const eligible: Array<{ c: C, breaker: BreakerState['state'] | undefined }> = []
  const skipped: SkippedCandidate[] = []
  // Candidates that serve the model but were excluded: only these explain a `no_peer`.
  const blocked: SkippedCandidate[] = []
  for (const c of candidates) {
    if (!serves(c, model)) {
      skipped.push({ id: c.id, name: c.name, reason: c.models.length === 0 ? 'serves no models' : `does not serve ${model ?? 'any model'}` })
      continue
    }
    const breaker = breakerOf(c.id)
    const why = !c.enabled
      ? 'disabled'
      : c.state !== 'alive'
        ? c.state
        : breaker === 'open'
          ? 'breaker open'
          : strict && c.tier !== tier
            ? `tier ${c.tier}, strict routing allows only tier ${tier}`
            : undefined
    if (why != null) {
      const entry = { id: c.id, name: c.name, reason: why }
      skipped.push(entry)
      blocked.push(entry)
    } else {
      eligible.push({ c, breaker })
    }
  }

  if (eligible.length === 0) {
    if (model != null && blocked.length === 0) {
      return { ok: false, code: 'unknown_model', reason: unknownModelReason(model, candidates), skipped }
    }
    return { ok: false, code: 'no_peer', reason: noPeerReason(model, tier, strict, blocked), skipped }
  }

  const balance = policy.loadBalance ? input.balance : undefined
  const keyed: Array<Keyed<C>> = []
  for (const e of eligible) {
    const used = usedOf(e.c, balance)
    keyed.push({
      c: e.c,
      breaker: e.breaker,
      used,
      tie: balance != null ? balance.random() : 0,
      note: '',
      // The AffinityMember fields, so a tier is handed to chooseByAffinity as it is.
      id: e.c.id,
      name: e.c.name,
      ratio: ratioOf(used, e.c.load.capacity),
      capacity: e.c.load.capacity,
      local: isLocal(e.c, selfId)
    })
  }
  const balanced = balance != null
  keyed.sort((a, b) => (tierRank(a.c.tier, tier) - tierRank(b.c.tier, tier)) || compareWithinTier(a, b, policy, balanced))
  if (balance != null && input.affinity != null) preferByAffinity(keyed, input.affinity, policy.preferLocal)

  const requestedAvailable = tier != null && eligible.some(e => e.c.tier === tier)
  // Tiers are contiguous after the sort: each tier's least load, and its reason text, once per tier.
  const ordered: Array<C & { reason: string }> = []
  let groupEnd = 0
  let least = 0
  let tierText = ''
  for (let i = 0; i < keyed.length; i++) {
    const { c, breaker, used, note, ratio } = keyed[i] as Keyed<C>
    if (i === groupEnd) {
      least = Infinity
      while (groupEnd < keyed.length && (keyed[groupEnd] as Keyed<C>).c.tier === c.tier) least = Math.min(least, (keyed[groupEnd++] as Keyed<C>).ratio)
      tierText = tierReason(c.tier, tier, requestedAvailable)
    }
    let reason = note !== '' ? `${note}, ${tierText}` : tierText
    // With `balance`, every peer at its tier's least load says so (affinity may have put another
    // first); without, the first of each tier, as before.
    const isLeast = balance != null ? ratio <= least : i === 0 || keyed[i - 1]?.c.tier !== c.tier
    if (policy.loadBalance) reason += `, ${loadReason(c.load, used, isLeast, balance?.inFlight.get(c.id) ?? 0)}`
    if (isLocal(c, selfId)) reason += ', local'
    else {
      if (c.via === 'http') reason += ', via http'
      reason += knownLatency(c) ? `, ${Math.round(c.latencyMs as number)} ms` : ', latency unknown'
    }
    if (breaker === 'half-open') reason += ', breaker half-open (trial)'
    ordered.push({ ...c, reason })
  }
  return { ok: true, candidates: ordered, skipped }
}

function serves (c: RouteCandidate, model: string | undefined): boolean {
  return model == null ? c.models.length > 0 : c.models.includes(model)
}

function breakerReader (breakers: BreakerLookup | undefined, now: number): (peerId: string) => BreakerState['state'] | undefined {
  if (breakers == null) return () => undefined
  if (typeof breakers === 'function') return (peerId) => breakers(peerId, now) ? 'open' : undefined
  return (peerId) => breakers.get(peerId)
}

/**
 * Position of a tier in the try order. Requested t → 0; lower tiers t-1 … 0 → 1 … t; higher tiers
 * keep their own number, which is > t, so they follow every lower tier in ascending order.
 * No tier requested → the tier itself: lowest first.
 */
function tierRank (t: number, requested: number | undefined): number {
  if (requested == null) return t
  if (t === requested) return 0
  return t < requested ? requested - t : t
}

/**
 * Latencies closer than this are equal for ordering: on one LAN round trips differ by fractions
 * of a millisecond, which say nothing about the peer, and sorting on them herds (issue 23) the way
 * names did. A peer across a WAN link (tens of ms) still sorts after a near one.
 */
export const LATENCY_TIE_MS = 5

interface Keyed<C extends RouteCandidate> extends AffinityMember {
  c: C
  breaker: BreakerState['state'] | undefined
  /** Requests in flight there: announced (or trailer) load, or what this peer sent, whichever is more. */
  used: number
  /** Random tie-breaker (0 without `balance`). */
  tie: number
  /** The affinity reason for a tier's chosen peer. */
  note: string
}

function usedOf (c: RouteCandidate, balance: BalanceInput | undefined): number {
  const announced = c.load.active + c.load.queued
  return balance != null ? Math.max(announced, balance.inFlight.get(c.id) ?? 0) : announced
}

function compareWithinTier<C extends RouteCandidate> (a: Keyed<C>, b: Keyed<C>, policy: RoutingPolicy, balanced: boolean): number {
  if (policy.loadBalance) {
    const d = compareNumbers(a.ratio, b.ratio)
    if (d !== 0) return d
  }
  if (policy.preferLocal && a.local !== b.local) return a.local ? -1 : 1
  if (balanced) {
    return compareNumbers(latencyBucket(a.c), latencyBucket(b.c)) ||
      compareNumbers(a.tie, b.tie) ||
      compareStrings(a.c.name, b.c.name) ||
      compareStrings(a.c.id, b.c.id)
  }
  return compareNumbers(latencyKey(a.c), latencyKey(b.c)) ||
    compareStrings(a.c.name, b.c.name) ||
    compareStrings(a.c.id, b.c.id)
}

/** Moves each tier's affinity choice to the front of its tier, with the reason. */
function preferByAffinity<C extends RouteCandidate> (keyed: Array<Keyed<C>>, affinity: AffinityInput, preferLocal: boolean): void {
  let start = 0
  while (start < keyed.length) {
    const tier = keyed[start]?.c.tier
    let end = start
    while (end < keyed.length && keyed[end]?.c.tier === tier) end++
    // One tier (the usual case) is the whole list: no copy.
    const group = start === 0 && end === keyed.length ? keyed : keyed.slice(start, end)
    const choice = chooseByAffinity(group, affinity, preferLocal)
    const chosen = group[choice.index]
    if (chosen != null) {
      chosen.note = choice.reason
      // Shift the ones ahead of it down by one: the rest keep their order.
      for (let i = start + choice.index; i > start; i--) keyed[i] = keyed[i - 1] as Keyed<C>
      keyed[start] = chosen
    }
    start = end
  }
}

/** Requests per slot; no capacity (or a malformed load) counts as fuller than any real peer. */
function ratioOf (used: number, capacity: number): number {
  const ratio = used / capacity
  return capacity > 0 && Number.isFinite(ratio) ? ratio : Number.POSITIVE_INFINITY
}

function latencyBucket (c: RouteCandidate): number {
  return knownLatency(c) ? Math.floor((c.latencyMs as number) / LATENCY_TIE_MS) : Number.POSITIVE_INFINITY
}

function isLocal (c: RouteCandidate, selfId: string): boolean {
  return c.id === selfId || c.via === 'local'
}

function knownLatency (c: RouteCandidate): boolean {
  return c.latencyMs != null && Number.isFinite(c.latencyMs) && c.latencyMs >= 0
}

function latencyKey (c: RouteCandidate): number {
  return knownLatency(c) ? c.latencyMs as number : Number.POSITIVE_INFINITY
}

// Infinity-safe (Infinity - Infinity is NaN); strings by code point so the order does not depend on locale.
function compareNumbers (a: number, b: number): number {
  return a < b ? -1 : a > b ? 1 : 0
}

function compareStrings (a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

function tierReason (t: number, requested: number | undefined, requestedAvailable: boolean): string {
  if (requested == null) return `tier ${t} (no tier requested, lowest first)`
  if (t === requested) return `tier ${t} as requested`
  return requestedAvailable
    ? `graceful fallback: tier ${t} (after requested tier ${requested})`
    : `graceful fallback: tier ${t} (requested ${requested} unavailable)`
}

function loadReason (load: Load, usedCount: number, least: boolean, sentFromHere: number): string {
  const used = `${usedCount}/${load.capacity}${sentFromHere > 0 ? `, ${sentFromHere} sent from here` : ''}`
  if (!(load.capacity > 0)) return `no capacity (${used})`
  return least ? `least loaded (${used})` : `load ${used}`
}

function unknownModelReason (model: string, candidates: readonly RouteCandidate[]): string {
  const known = [...new Set(candidates.flatMap(c => c.models))].sort(compareStrings)
  if (known.length === 0) return `no peer serves model ${model} (no models are known)`
  const shown = known.length > 10 ? `${known.slice(0, 10).join(', ')}, …` : known.join(', ')
  return `no peer serves model ${model} (known: ${shown})`
}

function noPeerReason (model: string | undefined, tier: number | undefined, strict: boolean, blocked: SkippedCandidate[]): string {
  const what = `${model != null ? `model ${model}` : 'any model'}${tier != null ? ` at tier ${tier}${strict ? ' (strict)' : ''}` : ''}`
  if (blocked.length === 0) return `no peer available for ${what}: no peer serves any model`
  return `no peer available for ${what}: ${blocked.map(s => `${s.name}: ${s.reason}`).join('; ')}`
}
