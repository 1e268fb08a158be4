import assert from 'node:assert/strict'
import { DEFAULT_AFFINITY_CONFIG } from '../../src/routing/affinity-config.js'
import { rendezvousScore } from '../../src/routing/affinity.js'
import { createInFlight } from '../../src/routing/in-flight.js'
import { DEFAULT_POLICY, route, type AffinityInput, type RouteCandidate, type RoutingPolicy } from '../../src/routing/router.js'
import type { PrefixLookup } from '../../src/routing/prefix-index.js'
import { mulberry32 as seeded } from '../../src/util/prng.js'

// Issue 23's routing as tables: in-flight counting, ties, prefix match, imbalance thresholds,
// rendezvous with bounded load, session keys. The prefix index itself: prefix-index.test.ts.

const SELF = 'id-self'
const NOW = 1_000_000

function peer (name: string, fields: Partial<RouteCandidate> = {}): RouteCandidate {
  return { id: `id-${name}`, name, models: ['m'], tier: 0, enabled: true, state: 'alive', load: { active: 0, queued: 0, capacity: 1 }, latencyMs: 1, via: 'mesh', ...fields }
}
const busy = (active: number, queued = 0, capacity = 1): RouteCandidate['load'] => ({ active, queued, capacity })

/** The candidate names rendezvous would rank first for `anchor`, best first. */
function rendezvousOrder (anchor: number, names: string[]): string[] {
  return [...names].sort((a, b) => rendezvousScore(anchor, `id-${b}`) - rendezvousScore(anchor, `id-${a}`))
}

function affinity (fields: { warm?: Record<string, number>, pinned?: string, key?: boolean, anchor?: number, chars?: number } = {}): AffinityInput {
  const lookup: PrefixLookup = { warm: new Map(Object.entries(fields.warm ?? {}).map(([name, chars]) => [`id-${name}`, chars])) }
  if (fields.pinned != null) lookup.pinned = `id-${fields.pinned}`
  const anchor = fields.anchor ?? 12345
  return {
    print: { chars: fields.chars ?? 1_233, anchor, anchorKind: fields.key === true ? 'session key' : 'system prompt', ...(fields.key === true ? { key: anchor } : {}) },
    lookup,
    config: DEFAULT_AFFINITY_CONFIG
  }
}

interface Row {
  name: string
  candidates: RouteCandidate[]
  inFlight?: Record<string, number>
  affinity?: AffinityInput
  policy?: Partial<RoutingPolicy>
  /** Without `balance` at all: the `announced` policy. */
  announced?: boolean
  first: string
  /** Expected order of all (when the test cares about the rest). */
  order?: string[]
  reason?: RegExp
}

function decide (row: Pick<Row, 'candidates' | 'inFlight' | 'affinity' | 'policy' | 'announced'>, random = seeded(1)): Array<RouteCandidate & { reason: string }> {
  const decision = route({
    candidates: row.candidates,
    request: { model: 'm' },
    selfId: SELF,
    policy: { ...DEFAULT_POLICY, ...row.policy },
    now: NOW,
    ...(row.announced === true ? {} : { balance: { inFlight: new Map(Object.entries(row.inFlight ?? {}).map(([n, c]) => [`id-${n}`, c])), random } }),
    ...(row.affinity != null ? { affinity: row.affinity } : {})
  })
  assert.ok(decision.ok, decision.ok ? '' : decision.reason)
  return decision.candidates
}

function runRows (rows: Row[]): void {
  for (const row of rows) {
    it(`should ${row.name}`, () => {
      const out = decide(row)
      assert.equal(out[0]?.name, row.first, `first of ${out.map(c => `${c.name} (${c.reason})`).join('; ')}`)
      if (row.order != null) assert.deepEqual(out.map(c => c.name), row.order)
      if (row.reason != null) assert.match(out[0]?.reason ?? '', row.reason)
    })
  }
}

describe('routing on load this peer knows for sure', () => {
  runRows([
    {
      name: 'take the larger of announced load and requests in flight from here',
      candidates: [peer('b'), peer('c', { load: busy(1) })],
      inFlight: { b: 2 },
      first: 'c',
      reason: /least loaded \(1\/1\)/
    },
    {
      name: 'not count in-flight requests twice when the announcement already shows them',
      candidates: [peer('b', { load: busy(1) }), peer('c', { load: busy(2) })],
      inFlight: { b: 1, c: 1 },
      first: 'b'
    },
    {
      name: 'name its own requests in the reason',
      candidates: [peer('b'), peer('c')],
      inFlight: { b: 1 },
      order: ['c', 'b'],
      first: 'c',
      reason: /least loaded \(0\/1\)/
    },
    {
      name: 'ignore in-flight counts under the announced policy (before issue 23)',
      candidates: [peer('b'), peer('c')],
      inFlight: { b: 5 },
      announced: true,
      order: ['b', 'c'],
      first: 'b'
    },
    {
      name: 'keep a WAN peer after a near one however ties break',
      candidates: [peer('far', { latencyMs: 60 }), peer('near', { latencyMs: 1 })],
      first: 'near'
    },
    {
      name: 'prefer itself among equally loaded peers with prefer_local',
      candidates: [peer('b'), peer('self', { id: SELF, via: 'local', latencyMs: 0 })],
      first: 'self'
    }
  ])

  it('should break ties at random, not by name, so every equal peer is sometimes first', () => {
    const candidates = ['b', 'c', 'd'].map(n => peer(n))
    const random = seeded(7)
    const firsts = new Map<string, number>()
    for (let i = 0; i < 300; i++) {
      const name = decide({ candidates }, random)[0]?.name ?? ''
      firsts.set(name, (firsts.get(name) ?? 0) + 1)
    }
    assert.deepEqual([...firsts.keys()].sort(), ['b', 'c', 'd'])
    for (const [name, n] of firsts) assert.ok(n > 60, `${name} first ${n} of 300 times`)
  })

  it('should send N concurrent requests to N idle equal peers one each, counting as it sends', () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const candidates = ['b', 'c', 'd', 'e'].map(n => peer(n))
      const inFlight = createInFlight()
      const random = seeded(seed)
      const chosen: string[] = []
      for (let i = 0; i < 4; i++) {
        const decision = route({ candidates, request: { model: 'm' }, selfId: SELF, policy: DEFAULT_POLICY, now: NOW, balance: { inFlight: inFlight.counts(), random } })
        assert.ok(decision.ok)
        const first = decision.candidates[0] as RouteCandidate
        chosen.push(first.name)
        inFlight.start(first.id)
      }
      assert.deepEqual([...chosen].sort(), ['b', 'c', 'd', 'e'], `seed ${seed}: ${chosen.join(',')}`)
    }
  })

  it('should herd under the announced policy, as the issue measured', () => {
    const candidates = ['b', 'c'].map(n => peer(n))
    const chosen = [1, 2, 3, 4].map(() => decide({ candidates, announced: true })[0]?.name)
    assert.deepEqual(chosen, ['b', 'b', 'b', 'b'])
  })
})

describe('in-flight counter', () => {
  it('should count per peer, release once, and forget idle peers', () => {
    const inFlight = createInFlight()
    const a = inFlight.start('b')
    const b = inFlight.start('b')
    inFlight.start('c')
    assert.deepEqual(Object.fromEntries(inFlight.counts()), { b: 2, c: 1 })
    a()
    a()
    assert.equal(inFlight.counts().get('b'), 1, 'a second release of the same request counts nothing')
    b()
    assert.equal(inFlight.counts().has('b'), false)
  })
})

describe('prefix affinity', () => {
  const three = (fields: Record<string, Partial<RouteCandidate>> = {}): RouteCandidate[] => ['b', 'c', 'd'].map(n => peer(n, fields[n]))
  runRows([
    {
      name: 'send a prompt to the peer holding its longest prefix',
      candidates: three(),
      affinity: affinity({ warm: { c: 1_152, d: 256 } }),
      first: 'c',
      reason: /^prefix 1,152 of 1,233 chars warm on c/
    },
    {
      name: 'keep the warm peer while it is at most one request per slot ahead (abs threshold 1)',
      candidates: three({ c: { load: busy(1) } }),
      affinity: affinity({ warm: { c: 1_152 } }),
      first: 'c'
    },
    {
      name: 'give an overloaded warm peer\'s prompt to an idle cold one (2 vs 0 per slot)',
      candidates: three({ c: { load: busy(1, 1) } }),
      affinity: affinity({ warm: { c: 1_152 } }),
      first: rendezvousOrder(12345, ['b', 'd'])[0] as string,
      reason: /^prefix 1,152 of 1,233 chars warm on c but overloaded \(2 vs 0 requests per slot\); rendezvous on system prompt/
    },
    {
      name: 'count its own in-flight requests when judging overload',
      candidates: three(),
      inFlight: { c: 2 },
      affinity: affinity({ warm: { c: 1_152 } }),
      first: rendezvousOrder(12345, ['b', 'd'])[0] as string
    },
    {
      name: 'keep a warm peer that is ahead by two when all are busy, under the relative threshold (5 vs 3.5 per slot)',
      candidates: three({ b: { load: busy(5) }, c: { load: busy(7) }, d: { load: busy(5) } }),
      affinity: affinity({ warm: { c: 1_152 } }),
      first: 'c'
    },
    {
      name: 'let the others have it when both thresholds are passed while all are busy (7 vs 4), by rendezvous within the bound',
      candidates: three({ b: { load: busy(4) }, c: { load: busy(7) }, d: { load: busy(5) } }),
      affinity: affinity({ warm: { c: 1_152 } }),
      first: rendezvousOrder(12345, ['b', 'd'])[0] as string,
      reason: /warm on c but overloaded \(7 vs 4 requests per slot\); rendezvous on system prompt/
    },
    {
      name: 'fall back to the next warm peer when the warmest is overloaded',
      candidates: three({ c: { load: busy(3) } }),
      affinity: affinity({ warm: { c: 1_152, d: 640 } }),
      first: 'd',
      reason: /warm on c but overloaded.*; prefix 640 of 1,233 chars warm on d/
    },
    {
      name: 'among equally warm peers take the less loaded',
      candidates: three({ c: { load: busy(1) } }),
      affinity: affinity({ warm: { c: 1_152, d: 1_152 } }),
      first: 'd'
    },
    {
      name: 'compare loads per slot: a busy peer with more slots is less loaded',
      candidates: three({ b: { load: busy(0, 0, 1) }, c: { load: busy(3, 0, 8) } }),
      affinity: affinity({ warm: { c: 1_152 } }),
      first: 'c'
    },
    {
      name: 'keep every eligible peer as failover after the affinity choice',
      candidates: three(),
      affinity: affinity({ warm: { d: 1_152 } }),
      first: 'd',
      order: ['d', ...(decide({ candidates: three() }).map(c => c.name).filter(n => n !== 'd'))]
    },
    {
      name: 'choose by affinity within the requested tier only',
      candidates: [peer('b', { tier: 0 }), peer('c', { tier: 1 }), peer('d', { tier: 1 })],
      affinity: affinity({ warm: { b: 1_152 } }),
      first: 'b'
    },
    {
      name: 'not apply affinity without load balancing (load_balance: false keeps the plain order)',
      candidates: three(),
      policy: { loadBalance: false },
      affinity: affinity({ warm: { d: 1_152 } }),
      first: 'b'
    }
  ])
})

describe('rendezvous when nothing is warm', () => {
  const names = ['b', 'c', 'd', 'e']
  const anchors = [1, 99, 12345, 777_777, 2 ** 40 + 3]
  for (const anchor of anchors) {
    it(`should pick the same peer for anchor ${anchor} whatever the order of candidates or the random ties`, () => {
      const expected = rendezvousOrder(anchor, names)[0]
      const forward = decide({ candidates: names.map(n => peer(n)), affinity: affinity({ anchor }) }, seeded(1))
      const backward = decide({ candidates: [...names].reverse().map(n => peer(n)), affinity: affinity({ anchor }) }, seeded(99))
      assert.equal(forward[0]?.name, expected)
      assert.equal(backward[0]?.name, expected)
      assert.match(forward[0]?.reason ?? '', /^rendezvous on system prompt/)
    })
  }

  it('should spread anchors over the peers', () => {
    const firsts = new Set<string>()
    for (let anchor = 0; anchor < 64; anchor++) firsts.add(rendezvousOrder(anchor * 7919, names)[0] as string)
    assert.deepEqual([...firsts].sort(), names)
  })

  const anchor = 12345
  const [top, second] = rendezvousOrder(anchor, names) as [string, string]
  runRows([
    {
      name: 'skip the hashed peer when it is above (1 + ε) × the average load',
      candidates: names.map(n => peer(n, n === top ? { load: busy(1) } : {})),
      affinity: affinity({ anchor }),
      first: second,
      reason: new RegExp(`^rendezvous on system prompt \\(${top} above bounded load\\)`)
    },
    {
      name: 'keep the hashed peer when everyone is as busy',
      candidates: names.map(n => peer(n, { load: busy(1) })),
      affinity: affinity({ anchor }),
      first: top
    },
    {
      name: 'keep the hashed peer within the ε slack (5 vs an average of 4.25)',
      candidates: names.map(n => peer(n, { load: busy(n === top ? 5 : 4) })),
      affinity: affinity({ anchor }),
      first: top
    },
    {
      name: 'prefer itself when nothing is warm and it is within the bound (prefer_local)',
      candidates: [...names.map(n => peer(n)), peer('self', { id: SELF, via: 'local', latencyMs: 0 })],
      affinity: affinity({ anchor }),
      first: 'self',
      reason: /^nothing warm, local/
    }
  ])
})

describe('session keys', () => {
  const names = ['b', 'c', 'd']
  const anchor = 4242
  const [top, second] = rendezvousOrder(anchor, names) as [string, string]
  const other = names.find(n => n !== top) as string
  runRows([
    {
      name: 'pin a keyed conversation to the peer it was last sent to, over a longer warm prefix elsewhere',
      candidates: names.map(n => peer(n)),
      affinity: affinity({ key: true, anchor, pinned: other, warm: { [top]: 1_152 } }),
      first: other,
      reason: new RegExp(`^pinned by session key to ${other}`)
    },
    {
      name: 'place a new key by rendezvous on the key, not on itself (entry peers agree)',
      candidates: [...names.map(n => peer(n)), peer('self', { id: SELF, via: 'local', latencyMs: 0 })],
      affinity: affinity({ key: true, anchor }),
      first: rendezvousOrder(anchor, [...names, 'self'])[0] as string,
      reason: /^rendezvous on session key/
    },
    {
      name: 'move a keyed conversation off an overloaded peer',
      candidates: names.map(n => peer(n, n === top ? { load: busy(3) } : {})),
      affinity: affinity({ key: true, anchor, pinned: top }),
      first: second,
      reason: new RegExp(`^session key's peer ${top} overloaded`)
    },
    {
      name: 'place a key whose peer is gone by rendezvous among the others',
      candidates: names.map(n => peer(n, n === top ? { state: 'dead' } : {})),
      affinity: affinity({ key: true, anchor, pinned: top }),
      first: second
    }
  ])
})

describe('a tier with one peer', () => {
  runRows([
    { name: 'still say when its only peer is warm', candidates: [peer('b')], affinity: affinity({ warm: { b: 512 } }), first: 'b', reason: /^prefix 512 of 1,233 chars warm on b, tier 0/ },
    { name: 'not claim a rendezvous where there was no choice', candidates: [peer('b')], affinity: affinity(), first: 'b', reason: /^tier 0/ }
  ])
})
