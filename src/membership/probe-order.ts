/**
 * SWIM's probe target selection: round-robin over a shuffled list of the members, reshuffled every
 * round, so every member is probed once per round (bounded detection time) in an order no one can
 * predict (no member is probed by everyone at once). Members that joined mid-round are inserted at
 * a random place in what is left of it; members that left are skipped. Pure: the random source is
 * a parameter.
 */
export interface ProbeOrder {
  /** The current round's order. */
  readonly order: readonly string[]
  /** Index of the next member to probe in `order`. */
  readonly next: number
}

export const EMPTY_ORDER: ProbeOrder = { order: [], next: 0 }

/** The next member to probe among `members` (the current probe-able members), and the new order. */
export function nextProbeTarget (state: ProbeOrder, members: readonly string[], random: () => number): { target: string | undefined, state: ProbeOrder } {
  if (members.length === 0) return { target: undefined, state: EMPTY_ORDER }
  const present = new Set(members)
  let { order, next } = state
  // New members: somewhere in the rest of this round, so they are probed within it.
  const known = new Set(order)
  for (const member of members) {
    if (known.has(member)) continue
    const at = next + Math.floor(random() * (order.length - next + 1))
    order = [...order.slice(0, at), member, ...order.slice(at)]
  }
  for (;;) {
    if (next >= order.length) {
      order = shuffle(members, random)
      next = 0
    }
    const candidate = order[next++] as string
    if (present.has(candidate)) return { target: candidate, state: { order, next } }
  }
}

/** Fisher–Yates. */
export function shuffle<T> (items: readonly T[], random: () => number): T[] {
  const out = [...items]
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1))
    const tmp = out[i] as T
    out[i] = out[j] as T
    out[j] = tmp
  }
  return out
}

/** Up to `k` members chosen at random, none of them in `exclude`. */
export function pickRandom (members: readonly string[], k: number, exclude: ReadonlySet<string>, random: () => number): string[] {
  const pool = members.filter(m => !exclude.has(m))
  if (pool.length <= k) return shuffle(pool, random)
  // Partial Fisher–Yates: only k swaps, for large views.
  const out = [...pool]
  for (let i = 0; i < k; i++) {
    const j = i + Math.floor(random() * (out.length - i))
    const tmp = out[i] as string
    out[i] = out[j] as string
    out[j] = tmp
  }
  return out.slice(0, k)
}
