import assert from 'node:assert/strict'
import { chooseByAffinity, fmt as formatted, rendezvousScore, type AffinityInput, type AffinityMember } from '../../src/routing/affinity.js'
import { mulberry32 as seeded } from '../../src/util/prng.js'

// chooseByAffinity finds its choice in one pass (no sort, texts formatted only when used). This
// checks it against the straightforward definition, written the slow way: warm members sorted by
// match (stable, so the load order breaks ties), the first not overloaded wins; otherwise local
// within the bound, otherwise rendezvous order with bounded load. Random tiers of 1–8 members.

const numbers = new Intl.NumberFormat('en-US', { maximumFractionDigits: 2 })
const fmt = (n: number): string => Number.isFinite(n) ? numbers.format(n) : '∞'

function reference (members: AffinityMember[], input: AffinityInput, preferLocal: boolean): { index: number, reason: string } {
  const { print, lookup, config } = input
  const least = Math.min(...members.map(m => m.ratio))
  const overloaded = (m: AffinityMember): boolean => m.ratio - least > config.balanceAbsThreshold && m.ratio > config.balanceRelThreshold * least
  const busy = (m: AffinityMember): string => `${fmt(m.ratio)} vs ${fmt(least)} requests per slot`
  const withCapacity = members.filter(m => m.capacity > 0)
  const capacity = withCapacity.reduce((s, m) => s + m.capacity, 0)
  const average = withCapacity.reduce((s, m) => s + m.used, 0) / capacity
  const within = (m: AffinityMember): boolean => capacity > 0 && m.ratio <= (1 + config.boundedLoadEpsilon) * average
  const rendezvous = (): { index: number, skipped: string } => {
    const order = members.map((m, index) => ({ m, index, score: rendezvousScore(print.anchor, m.id) }))
      .sort((a, b) => (b.score - a.score) || (a.m.id < b.m.id ? -1 : a.m.id > b.m.id ? 1 : 0))
    const first = order.findIndex(o => within(o.m))
    if (first < 0) return { index: 0, skipped: '' }
    const skipped = order.slice(0, first).map(o => o.m.name)
    return { index: (order[first] as { index: number }).index, skipped: skipped.length > 0 ? ` (${skipped.join(', ')} above bounded load)` : '' }
  }
  if (print.key != null) {
    const pinned = members.findIndex(m => m.id === lookup.pinned)
    const pin = members[pinned]
    if (pin != null && !overloaded(pin)) return { index: pinned, reason: `pinned by session key to ${pin.name}` }
    const cold = rendezvous()
    return { index: cold.index, reason: `${pin != null ? `session key's peer ${pin.name} overloaded (${busy(pin)}); ` : ''}rendezvous on session key${cold.skipped}` }
  }
  const warm = members.map((m, index) => ({ m, index, chars: lookup.warm.get(m.id) ?? 0 })).filter(w => w.chars > 0).sort((a, b) => b.chars - a.chars)
  let note = ''
  for (const w of warm) {
    const what = `prefix ${fmt(w.chars)} of ${fmt(print.chars)} chars warm on ${w.m.name}`
    if (!overloaded(w.m)) return { index: w.index, reason: note === '' ? what : `${note}; ${what}` }
    if (note === '') note = `${what} but overloaded (${busy(w.m)})`
  }
  const prefix = note === '' ? '' : `${note}; `
  const local = members.findIndex(m => m.local)
  if (preferLocal && local >= 0 && within(members[local] as AffinityMember)) return { index: local, reason: `${prefix}nothing warm, local` }
  const cold = rendezvous()
  return { index: cold.index, reason: `${prefix}rendezvous on ${print.anchorKind}${cold.skipped}` }
}

describe('chooseByAffinity against its definition', () => {
  it('should choose the same member with the same reason in 5,000 random tiers', () => {
    const random = seeded(7)
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)] as T
    let warmWins = 0
    let overloadedNotes = 0
    let skippedNotes = 0
    for (let round = 0; round < 5_000; round++) {
      const n = 2 + Math.floor(random() * 7)
      const members: AffinityMember[] = Array.from({ length: n }, (_, i) => {
        const capacity = pick([0, 1, 2, 4])
        const used = Math.floor(random() * 6)
        const ratio = capacity > 0 ? used / capacity : Infinity
        return { id: `id-${pick(['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'])}${i}`, name: `p${i}`, ratio, used, capacity, local: i === 0 && random() < 0.5 }
      })
      const warm = new Map<string, number>()
      for (const m of members) if (random() < 0.5) warm.set(m.id, pick([256, 512, 512, 1_024, 4_864]))
      const key = random() < 0.2
      const pinned = random() < 0.7 ? pick(members).id : undefined
      const input: AffinityInput = {
        print: { chars: 5_057, anchor: Math.floor(random() * 2 ** 53), anchorKind: key ? 'session key' : pick(['system prompt', 'first message'] as const), ...(key ? { key: 1 } : {}) },
        lookup: { warm, ...(pinned != null ? { pinned } : {}) },
        config: { balanceAbsThreshold: pick([0, 1]), balanceRelThreshold: 1.5, boundedLoadEpsilon: pick([0, 0.25]) }
      }
      const preferLocal = random() < 0.5
      const got = chooseByAffinity(members, input, preferLocal)
      assert.deepEqual(got, reference(members, input, preferLocal), `round ${round}`)
      if (got.reason.startsWith('prefix')) warmWins++
      if (got.reason.includes('but overloaded')) overloadedNotes++
      if (got.reason.includes('above bounded load')) skippedNotes++
    }
    // The random tiers reach every branch, not only the easy ones.
    assert.ok(warmWins > 100 && overloadedNotes > 100 && skippedNotes > 100, `${warmWins} ${overloadedNotes} ${skippedNotes}`)
  })
})

describe('fmt (reason numbers)', () => {
  it('should format like Intl en-US with two decimals', () => {
    const values = [0, -0, 1, 7, 999, 1_000, 1_152, 4_864, 12_345, 999_999, 1_000_000, 1_234_567_890, Number.MAX_SAFE_INTEGER, 2 ** 53 + 2, 0.5, 1.25, 1.005, 2 / 3, -1, -1_234, 1_234.5678, Infinity, -Infinity, NaN]
    for (let i = 0; i < 2_000; i++) values.push(Math.floor(Math.random() * 10 ** (1 + (i % 15))))
    for (const n of values) assert.equal(formatted(n), Number.isFinite(n) ? numbers.format(n) : '∞', String(n))
  })
})
