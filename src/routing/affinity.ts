// Which peer of one tier gets a request first when caches matter (issue 23), as a pure function
// of data: the peers in load order, what the prefix index knows, the thresholds. SGLang's
// cache-aware policy without its central router: the longest warm prefix wins unless its peer is
// overloaded relative to the others; with nothing warm, a rendezvous hash of the request's anchor
// (session key, else system prompt + tools, else first message) with bounded load, so entry peers
// that never talked pick the same peer.
import type { AffinityConfig } from './affinity-config.js'
import type { PrefixLookup } from './prefix-index.js'
import { hashText, mix32, type PromptPrint } from './prompt-print.js'

/** One eligible peer of the tier, as the router measured it. */
export interface AffinityMember {
  id: string
  name: string
  /** Requests per slot: max(announced, in flight from here) / capacity; Infinity without capacity. */
  ratio: number
  used: number
  capacity: number
  local: boolean
}

export interface AffinityInput {
  print: Pick<PromptPrint, 'chars' | 'anchor' | 'anchorKind' | 'key'>
  lookup: PrefixLookup
  config: Pick<AffinityConfig, 'balanceAbsThreshold' | 'balanceRelThreshold' | 'boundedLoadEpsilon'>
}

export interface AffinityChoice {
  /** Index into the members given. */
  index: number
  /** Why, for humans: "prefix 1,152 of 1,233 chars warm on b". */
  reason: string
}

/**
 * `members` are in the router's load order (least loaded first, ties local, latency, random).
 * Never fails and never drops a member: the caller moves the chosen one to the front and keeps the
 * rest as failover order, so affinity is a preference only.
 */
export function chooseByAffinity (members: readonly AffinityMember[], input: AffinityInput, preferLocal: boolean): AffinityChoice {
  const { print, lookup, config } = input
  if (members.length === 0) return { index: 0, reason: '' }
  const only = members[0] as AffinityMember
  if (members.length === 1) {
    // No choice to explain; still say when its cache is warm or the key is its own.
    const chars = lookup.warm.get(only.id) ?? 0
    if (print.key != null) return { index: 0, reason: lookup.pinned === only.id ? `pinned by session key to ${only.name}` : '' }
    return { index: 0, reason: chars > 0 ? `prefix ${fmt(chars)} of ${fmt(print.chars)} chars warm on ${only.name}` : '' }
  }
  let least = Infinity
  for (const m of members) if (m.ratio < least) least = m.ratio
  const { balanceAbsThreshold: abs, balanceRelThreshold: rel, boundedLoadEpsilon: epsilon } = config

  if (print.key != null) {
    const pinned = lookup.pinned != null ? members.findIndex(m => m.id === lookup.pinned) : -1
    const pin = members[pinned]
    if (pin != null && !overloaded(pin, least, abs, rel)) return { index: pinned, reason: `pinned by session key to ${pin.name}` }
    const why = pin != null ? `session key's peer ${pin.name} overloaded (${busy(pin, least)}); ` : ''
    const cold = rendezvous(members, print.anchor, epsilon)
    return { index: cold.index, reason: `${why}rendezvous on session key${cold.skipped}` }
  }

  // The warm members in the order (longest match first; among equal matches the load order), the
  // first one not overloaded wins; the first overloaded one ahead of it is named in the reason.
  // Found in one pass without sorting, and only the texts that end up in the reason are formatted.
  let chosen = -1
  let chosenChars = 0
  let over = -1
  let overChars = 0
  for (let i = 0; i < members.length; i++) {
    const m = members[i] as AffinityMember
    const chars = lookup.warm.get(m.id) ?? 0
    if (!(chars > 0)) continue
    if (overloaded(m, least, abs, rel)) {
      if (chars > overChars) { over = i; overChars = chars }
    } else if (chars > chosenChars) {
      chosen = i
      chosenChars = chars
    }
  }
  const warmNote = over >= 0 && (chosen < 0 || overChars > chosenChars || (overChars === chosenChars && over < chosen))
    ? `${warmText(overChars, print.chars, members[over] as AffinityMember)} but overloaded (${busy(members[over] as AffinityMember, least)})`
    : ''
  if (chosen >= 0) {
    const what = warmText(chosenChars, print.chars, members[chosen] as AffinityMember)
    return { index: chosen, reason: warmNote === '' ? what : `${warmNote}; ${what}` }
  }
  const prefix = warmNote === '' ? '' : `${warmNote}; `

  const average = averageLoad(members)
  if (preferLocal) {
    const local = members.findIndex(m => m.local)
    const self = members[local]
    if (self != null && withinBound(self, average, epsilon)) return { index: local, reason: `${prefix}nothing warm, local` }
  }
  const cold = rendezvous(members, print.anchor, epsilon)
  return { index: cold.index, reason: `${prefix}rendezvous on ${print.anchorKind}${cold.skipped}` }
}

function overloaded (m: AffinityMember, least: number, abs: number, rel: number): boolean {
  return m.ratio - least > abs && m.ratio > rel * least
}

function busy (m: AffinityMember, least: number): string {
  return `${fmt(m.ratio)} vs ${fmt(least)} requests per slot`
}

function warmText (chars: number, of: number, m: AffinityMember): string {
  return `prefix ${fmt(chars)} of ${fmt(of)} chars warm on ${m.name}`
}

/**
 * Highest-random-weight hashing of `anchor` over the members, skipping any above (1 + ε) × the
 * average load per slot. The least loaded member is never above the average, so one is always found.
 * The best member within the bound is found in one pass; the ones ranked above it (named in the
 * reason) are sorted only when there are any.
 */
function rendezvous (members: readonly AffinityMember[], anchor: number, epsilon: number): { index: number, skipped: string } {
  const average = averageLoad(members)
  let best = -1
  let bestScore = 0
  for (let i = 0; i < members.length; i++) {
    const m = members[i] as AffinityMember
    if (!withinBound(m, average, epsilon)) continue
    const score = rendezvousScore(anchor, m.id)
    if (best < 0 || ranksBefore(score, m.id, bestScore, (members[best] as AffinityMember).id)) {
      best = i
      bestScore = score
    }
  }
  // Unreachable with finite loads; with none (no capacity anywhere) the load order stands.
  if (best < 0) return { index: 0, skipped: '' }
  const bestId = (members[best] as AffinityMember).id
  let skipped: Array<{ m: AffinityMember, score: number }> | undefined
  for (let i = 0; i < members.length; i++) {
    const m = members[i] as AffinityMember
    if (withinBound(m, average, epsilon)) continue
    const score = rendezvousScore(anchor, m.id)
    // Equal score and id (one peer listed twice) keep the members' order, as a stable sort would.
    if (ranksBefore(score, m.id, bestScore, bestId) || (score === bestScore && m.id === bestId && i < best)) (skipped ??= []).push({ m, score })
  }
  if (skipped == null) return { index: best, skipped: '' }
  skipped.sort((a, b) => (b.score - a.score) || compareIds(a.m.id, b.m.id))
  return { index: best, skipped: ` (${skipped.map(s => s.m.name).join(', ')} above bounded load)` }
}

/** Rendezvous order: higher score first, ties by id. */
function ranksBefore (score: number, id: string, otherScore: number, otherId: string): boolean {
  return score > otherScore || (score === otherScore && compareIds(id, otherId) < 0)
}

function compareIds (a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

/** Requests per slot over the members with capacity; NaN when none has any (nothing is within the bound). */
function averageLoad (members: readonly AffinityMember[]): number {
  let used = 0
  let capacity = 0
  for (const x of members) {
    if (!(x.capacity > 0)) continue
    used += x.used
    capacity += x.capacity
  }
  return capacity > 0 ? used / capacity : Number.NaN
}

function withinBound (m: AffinityMember, average: number, epsilon: number): boolean {
  // NaN (no capacity anywhere) compares false: nothing is within the bound.
  return m.ratio <= (1 + epsilon) * average
}

/** The same number on every peer for the same anchor and peer id. */
export function rendezvousScore (anchor: number, peerId: string): number {
  const id = peerHash(peerId)
  const lo = mix32(((anchor >>> 0) ^ (id >>> 0)) >>> 0)
  const hi = mix32((Math.floor(anchor / 0x100000000) + Math.floor(id / 0x100000000)) >>> 0)
  return mix32((lo ^ hi) >>> 0) * 0x100000 + (lo >>> 12)
}

// Peer ids are few and long (52 characters): their hashes are kept rather than recomputed for every
// member of every cold decision. Bounded: a mesh with churn sees new ids, and the whole cache is
// dropped when full (refilling costs one hash per peer).
const PEER_HASHES_MAX = 4_096
const peerHashes = new Map<string, number>()
function peerHash (peerId: string): number {
  let id = peerHashes.get(peerId)
  if (id == null) {
    if (peerHashes.size >= PEER_HASHES_MAX) peerHashes.clear()
    id = hashText(peerId)
    peerHashes.set(peerId, id)
  }
  return id
}

/** Peer hashes `rendezvousScore` remembers now, and at most: process-wide, so not in a peer's BoundedRegistry; for its bound test. */
export function peerHashCache (): { size: number, limit: number } {
  return { size: peerHashes.size, limit: PEER_HASHES_MAX }
}

const numbers = new Intl.NumberFormat('en-US', { maximumFractionDigits: 2 })
/** en-US with up to two decimals; whole numbers (every character count) without Intl, ~1 µs each. */
export function fmt (n: number): string {
  if (Number.isSafeInteger(n) && n >= 0 && !Object.is(n, -0)) return n < 1000 ? String(n) : grouped(String(n))
  return Number.isFinite(n) ? numbers.format(n) : '∞'
}

function grouped (digits: string): string {
  let out = digits.slice(0, ((digits.length - 1) % 3) + 1)
  for (let i = out.length; i < digits.length; i += 3) out += ',' + digits.slice(i, i + 3)
  return out
}
