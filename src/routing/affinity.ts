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
  const overloaded = (m: AffinityMember): boolean =>
    m.ratio - least > config.balanceAbsThreshold && m.ratio > config.balanceRelThreshold * least
  const busy = (m: AffinityMember): string => `${fmt(m.ratio)} vs ${fmt(least)} requests per slot`

  if (print.key != null) {
    const pinned = lookup.pinned != null ? members.findIndex(m => m.id === lookup.pinned) : -1
    const pin = members[pinned]
    if (pin != null && !overloaded(pin)) return { index: pinned, reason: `pinned by session key to ${pin.name}` }
    const why = pin != null ? `session key's peer ${pin.name} overloaded (${busy(pin)}); ` : ''
    const cold = rendezvous(members, print.anchor, config.boundedLoadEpsilon)
    return { index: cold.index, reason: `${why}rendezvous on session key${cold.skipped}` }
  }

  let warmNote = ''
  const warm = members
    .map((m, index) => ({ m, index, chars: lookup.warm.get(m.id) ?? 0 }))
    .filter(w => w.chars > 0)
    // Stable: among equal matches the load order decides.
    .sort((a, b) => b.chars - a.chars)
  for (const w of warm) {
    const what = `prefix ${fmt(w.chars)} of ${fmt(print.chars)} chars warm on ${w.m.name}`
    if (!overloaded(w.m)) return { index: w.index, reason: warmNote === '' ? what : `${warmNote}; ${what}` }
    if (warmNote === '') warmNote = `${what} but overloaded (${busy(w.m)})`
  }
  const prefix = warmNote === '' ? '' : `${warmNote}; `

  if (preferLocal) {
    const local = members.findIndex(m => m.local)
    const self = members[local]
    if (self != null && withinBound(self, members, config.boundedLoadEpsilon)) return { index: local, reason: `${prefix}nothing warm, local` }
  }
  const cold = rendezvous(members, print.anchor, config.boundedLoadEpsilon)
  return { index: cold.index, reason: `${prefix}rendezvous on ${print.anchorKind}${cold.skipped}` }
}

/**
 * Highest-random-weight hashing of `anchor` over the members, skipping any above (1 + ε) × the
 * average load per slot. The least loaded member is never above the average, so one is always found.
 */
function rendezvous (members: readonly AffinityMember[], anchor: number, epsilon: number): { index: number, skipped: string } {
  const order = members
    .map((m, index) => ({ m, index, score: rendezvousScore(anchor, m.id) }))
    .sort((a, b) => (b.score - a.score) || (a.m.id < b.m.id ? -1 : a.m.id > b.m.id ? 1 : 0))
  const skipped: string[] = []
  for (const o of order) {
    if (withinBound(o.m, members, epsilon)) {
      return { index: o.index, skipped: skipped.length > 0 ? ` (${skipped.join(', ')} above bounded load)` : '' }
    }
    skipped.push(o.m.name)
  }
  // Unreachable with finite loads; with none (no capacity anywhere) the load order stands.
  return { index: 0, skipped: '' }
}

function withinBound (m: AffinityMember, members: readonly AffinityMember[], epsilon: number): boolean {
  let used = 0
  let capacity = 0
  for (const x of members) {
    if (!(x.capacity > 0)) continue
    used += x.used
    capacity += x.capacity
  }
  if (!(capacity > 0)) return false
  return m.ratio <= (1 + epsilon) * (used / capacity)
}

/** The same number on every peer for the same anchor and peer id. */
export function rendezvousScore (anchor: number, peerId: string): number {
  const id = hashText(peerId)
  const lo = mix32(((anchor >>> 0) ^ (id >>> 0)) >>> 0)
  const hi = mix32((Math.floor(anchor / 0x100000000) + Math.floor(id / 0x100000000)) >>> 0)
  return mix32((lo ^ hi) >>> 0) * 0x100000 + (lo >>> 12)
}

const numbers = new Intl.NumberFormat('en-US', { maximumFractionDigits: 2 })
function fmt (n: number): string {
  return Number.isFinite(n) ? numbers.format(n) : '∞'
}
