import assert from 'node:assert/strict'
import { createBreakers } from '../../src/routing/breaker.js'
import { DEFAULT_POLICY, candidatesFromView, policyFromConfig, route } from '../../src/routing/router.js'
import type { BreakerLookup, RouteCandidate, RouteDecision, RouteRequest, RoutingPolicy } from '../../src/routing/router.js'
import { PROFILES } from '../../src/membership/profiles.js'
import { applyEvents, emptyView } from '../../src/membership/view.js'
import type { Announcement } from '../../src/membership/types.js'

const SELF = 'id-self'
const NOW = 1_000_000

/** An alive, enabled, idle tier-0 mesh peer serving `m`, 10 ms away; ids differ from names on purpose. */
function peer (name: string, fields: Partial<RouteCandidate> = {}): RouteCandidate {
  return {
    id: `id-${name}`,
    name,
    models: ['m'],
    tier: 0,
    enabled: true,
    state: 'alive',
    load: { active: 0, queued: 0, capacity: 4 },
    latencyMs: 10,
    via: 'mesh',
    ...fields
  }
}

/** This peer, as candidatesFromView builds it. */
function self (fields: Partial<RouteCandidate> = {}): RouteCandidate {
  return peer('self', { id: SELF, via: 'local', latencyMs: 0, ...fields })
}

const load = (active: number, queued: number, capacity: number): RouteCandidate['load'] => ({ active, queued, capacity })

function run (candidates: RouteCandidate[], request: RouteRequest = {}, policy: Partial<RoutingPolicy> = {}, breakers?: BreakerLookup): RouteDecision {
  const input: Parameters<typeof route>[0] = { candidates, request, selfId: SELF, policy: { ...DEFAULT_POLICY, ...policy }, now: NOW }
  if (breakers != null) input.breakers = breakers
  return route(input)
}

function names (decision: RouteDecision): string[] {
  assert.ok(decision.ok, `expected candidates, got ${decision.ok ? '' : `${decision.code}: ${decision.reason}`}`)
  return decision.candidates.map(c => c.name)
}

interface Row {
  name: string
  candidates: RouteCandidate[]
  request?: RouteRequest
  policy?: Partial<RoutingPolicy>
  breakers?: BreakerLookup
  /** Expected order of candidate names. */
  order?: string[]
  /** Expected order of candidate ids, where names alone cannot tell. */
  ids?: string[]
  /** Expected reasons, one per candidate in order (exact). */
  reasons?: string[]
  /** Substrings expected in the reason of the candidate with that name. */
  reasonIncludes?: Record<string, string>
  /** Expected failure code. */
  code?: 'unknown_model' | 'no_peer'
  /** Substrings expected in the failure reason. */
  failureIncludes?: string[]
}

function runRows (rows: Row[]): void {
  for (const row of rows) {
    it(`should ${row.name}`, () => {
      const decision = run(row.candidates, row.request, row.policy, row.breakers)
      if (row.code != null) {
        assert.equal(decision.ok, false, `expected ${row.code}, got candidates ${decision.ok ? decision.candidates.map(c => c.name).join(',') : ''}`)
        if (decision.ok) return
        assert.equal(decision.code, row.code, `code (reason: ${decision.reason})`)
        for (const part of row.failureIncludes ?? []) {
          assert.ok(decision.reason.includes(part), `reason '${decision.reason}' should include '${part}'`)
        }
        return
      }
      assert.deepEqual(names(decision), row.order, 'order')
      if (!decision.ok) return
      if (row.ids != null) assert.deepEqual(decision.candidates.map(c => c.id), row.ids, 'ids')
      for (const c of decision.candidates) assert.ok(c.reason.length > 0, `${c.name} should have a reason`)
      if (row.reasons != null) assert.deepEqual(decision.candidates.map(c => c.reason), row.reasons, 'reasons')
      for (const [name, part] of Object.entries(row.reasonIncludes ?? {})) {
        const c = decision.candidates.find(c => c.name === name)
        assert.ok(c != null, `${name} should be a candidate`)
        assert.ok(c.reason.includes(part), `reason of ${name} '${c.reason}' should include '${part}'`)
      }
    })
  }
}

describe('router', () => {
  describe('route: models', () => {
    runRows([
      {
        name: 'pick only peers that serve the exact model',
        candidates: [peer('a', { models: ['llama3.2:3b'] }), peer('b', { models: ['qwen2.5:3b'] })],
        request: { model: 'qwen2.5:3b' },
        order: ['b']
      },
      {
        name: 'not match a model name by prefix or case',
        candidates: [peer('a', { models: ['qwen2.5:3b'] }), peer('b', { models: ['QWEN2.5'] })],
        request: { model: 'qwen2.5' },
        code: 'unknown_model'
      },
      {
        name: 'accept any model for auto',
        candidates: [peer('a', { models: ['x'] }), peer('b', { models: ['y'] })],
        request: { model: 'auto' },
        order: ['a', 'b']
      },
      {
        name: 'accept any model when no model is given',
        candidates: [peer('b', { models: ['y'] }), peer('a', { models: ['x'] })],
        order: ['a', 'b']
      },
      {
        name: 'answer unknown_model naming the known models when no peer serves the model',
        candidates: [peer('a', { models: ['x'] }), peer('b', { models: ['y'] })],
        request: { model: 'z' },
        code: 'unknown_model',
        failureIncludes: ['model z', 'known: x, y']
      },
      {
        name: 'answer unknown_model when the only peers are dead or disabled and serve other models',
        candidates: [peer('a', { models: ['x'], state: 'dead' }), peer('b', { models: ['y'], enabled: false })],
        request: { model: 'z' },
        code: 'unknown_model'
      },
      {
        name: 'answer no_peer, not unknown_model, when the only peer serving the model is dead',
        candidates: [peer('a', { models: ['x'] }), peer('b', { models: ['z'], state: 'dead' })],
        request: { model: 'z' },
        code: 'no_peer',
        failureIncludes: ['model z', 'b: dead']
      },
      {
        name: 'choose between peers by model when each serves several',
        candidates: [peer('a', { models: ['m1', 'm2'] }), peer('b', { models: ['m2', 'm3'] }), peer('c', { models: ['m3'] })],
        request: { model: 'm2' },
        order: ['a', 'b']
      },
      {
        name: 'route to the one peer that serves a model among several',
        candidates: [peer('a', { models: ['m1', 'm2'] }), peer('b', { models: ['m2', 'm3'] })],
        request: { model: 'm1' },
        order: ['a']
      },
      {
        name: 'not route auto to a peer that serves no models (a routing-only peer)',
        candidates: [self({ models: [] }), peer('a')],
        request: { model: 'auto' },
        order: ['a']
      },
      {
        name: 'answer no_peer for auto when no peer serves any model',
        candidates: [self({ models: [] })],
        code: 'no_peer',
        failureIncludes: ['no peer serves any model']
      },
      {
        name: 'answer no_peer for auto with an empty candidate list',
        candidates: [],
        request: { model: 'auto' },
        code: 'no_peer'
      }
    ])
  })

  describe('route: tiers', () => {
    const tiers = (): RouteCandidate[] => [peer('t0', { tier: 0 }), peer('t1', { tier: 1 }), peer('t2', { tier: 2 })]
    runRows([
      {
        name: 'try the requested tier first, then lower tiers descending',
        candidates: tiers(),
        request: { tier: 2 },
        order: ['t2', 't1', 't0']
      },
      {
        name: 'fall back gracefully down to tier 0 and then up',
        candidates: tiers(),
        request: { tier: 1 },
        order: ['t1', 't0', 't2'],
        reasonIncludes: { t0: 'graceful fallback: tier 0 (after requested tier 1)', t2: 'graceful fallback: tier 2 (after requested tier 1)' }
      },
      {
        name: 'fall back to a lower tier when the requested one is missing, saying so',
        candidates: [peer('t0', { tier: 0 }), peer('t1', { tier: 1 })],
        request: { tier: 2 },
        order: ['t1', 't0'],
        reasonIncludes: { t1: 'graceful fallback: tier 1 (requested 2 unavailable)' }
      },
      {
        name: 'fall back upwards in ascending order from tier 0',
        candidates: [peer('t2', { tier: 2 }), peer('t1', { tier: 1 })],
        request: { tier: 0 },
        order: ['t1', 't2']
      },
      {
        name: 'fall back when the requested tier exists but is dead',
        candidates: [peer('t2', { tier: 2, state: 'dead' }), peer('t1', { tier: 1 })],
        request: { tier: 2 },
        order: ['t1'],
        reasonIncludes: { t1: 'requested 2 unavailable' }
      },
      {
        name: 'keep only the requested tier when strict',
        candidates: tiers(),
        request: { tier: 1 },
        policy: { fallbackStrategy: 'strict' },
        order: ['t1']
      },
      {
        name: 'answer no_peer when strict and the requested tier is missing',
        candidates: [peer('t0', { tier: 0 }), peer('t1', { tier: 1 })],
        request: { tier: 2 },
        policy: { fallbackStrategy: 'strict' },
        code: 'no_peer',
        failureIncludes: ['tier 2 (strict)', 't0: tier 0, strict routing allows only tier 2']
      },
      {
        name: 'order every tier lowest first when no tier is requested, even when strict',
        candidates: [peer('t2', { tier: 2 }), peer('t0', { tier: 0 }), peer('t1', { tier: 1 })],
        policy: { fallbackStrategy: 'strict' },
        order: ['t0', 't1', 't2'],
        reasonIncludes: { t0: 'no tier requested' }
      },
      {
        name: 'put a lower tier before a less loaded higher one (tier beats load)',
        candidates: [peer('t1', { tier: 1, load: load(0, 0, 4) }), peer('t2', { tier: 2, load: load(4, 4, 4) })],
        request: { tier: 2 },
        order: ['t2', 't1']
      }
    ])
  })

  describe('route: within a tier', () => {
    runRows([
      {
        name: 'put the least loaded peer first',
        candidates: [peer('a', { load: load(3, 0, 4) }), peer('b', { load: load(1, 0, 4) }), peer('c', { load: load(2, 0, 4) })],
        order: ['b', 'c', 'a'],
        reasonIncludes: { b: 'least loaded (1/4)', c: 'load 2/4', a: 'load 3/4' }
      },
      {
        name: 'count queued requests as load',
        candidates: [peer('a', { load: load(1, 2, 4) }), peer('b', { load: load(2, 0, 4) })],
        order: ['b', 'a']
      },
      {
        name: 'compare load relative to capacity, not absolute',
        candidates: [peer('a', { load: load(1, 0, 2) }), peer('b', { load: load(2, 0, 8) })],
        order: ['b', 'a']
      },
      {
        name: 'put a peer with capacity 0 last, as full',
        candidates: [peer('a', { load: load(0, 0, 0) }), peer('b', { load: load(3, 0, 4) }), peer('c', { load: load(9, 9, 4) })],
        order: ['b', 'c', 'a'],
        reasonIncludes: { a: 'no capacity (0/0)' }
      },
      {
        name: 'prefer the local peer on a load tie',
        candidates: [peer('a', { latencyMs: 1 }), self({ latencyMs: 5 })],
        order: ['self', 'a'],
        reasonIncludes: { self: 'local' }
      },
      {
        name: 'not prefer the local peer over a less loaded one',
        candidates: [self({ load: load(3, 0, 4) }), peer('a', { load: load(0, 0, 4) })],
        order: ['a', 'self']
      },
      {
        name: 'order the local peer by latency when prefer_local is off',
        candidates: [self({ latencyMs: 5 }), peer('a', { latencyMs: 1 })],
        policy: { preferLocal: false },
        order: ['a', 'self']
      },
      {
        name: 'break a load tie by lower latency',
        candidates: [peer('a', { latencyMs: 20 }), peer('b', { latencyMs: 5 })],
        order: ['b', 'a'],
        reasonIncludes: { b: '5 ms', a: '20 ms' }
      },
      {
        name: 'put unknown latency after every known one',
        candidates: [peer('a', { latencyMs: undefined }), peer('b', { latencyMs: 500 })],
        order: ['b', 'a'],
        reasonIncludes: { a: 'latency unknown' }
      },
      {
        name: 'break a full tie by name, not by id or input order',
        candidates: [peer('b', { id: 'id-1' }), peer('a', { id: 'id-2' })],
        order: ['a', 'b']
      },
      {
        name: 'break a tie of equal names by id',
        candidates: [peer('same', { id: 'id-z', latencyMs: 7 }), peer('same', { id: 'id-a', latencyMs: 7 })],
        order: ['same', 'same'],
        ids: ['id-a', 'id-z']
      },
      {
        name: 'ignore load when load_balance is off: local first, then latency',
        candidates: [peer('a', { load: load(0, 0, 4), latencyMs: 9 }), peer('b', { load: load(4, 4, 4), latencyMs: 1 }), self({ load: load(4, 0, 4) })],
        policy: { loadBalance: false },
        order: ['self', 'b', 'a'],
        reasons: ['tier 0 (no tier requested, lowest first), local', 'tier 0 (no tier requested, lowest first), 1 ms', 'tier 0 (no tier requested, lowest first), 9 ms']
      },
      {
        name: 'ignore load and locality when both load_balance and prefer_local are off',
        candidates: [self({ latencyMs: 3 }), peer('b', { load: load(4, 4, 4), latencyMs: 1 })],
        policy: { loadBalance: false, preferLocal: false },
        order: ['b', 'self']
      },
      {
        name: 'order an HTTP-only node by the same rules as mesh peers',
        candidates: [peer('a', { load: load(2, 0, 4) }), peer('h', { via: 'http', load: load(1, 0, 4) }), peer('b', { load: load(3, 0, 4) })],
        order: ['h', 'a', 'b'],
        reasonIncludes: { h: 'via http' }
      }
    ])
  })

  describe('route: eligibility', () => {
    runRows([
      {
        name: 'skip disabled peers',
        candidates: [peer('a', { enabled: false, load: load(0, 0, 4) }), peer('b', { load: load(3, 0, 4) })],
        order: ['b']
      },
      {
        name: 'skip suspect, dead and left peers',
        candidates: [peer('s', { state: 'suspect' }), peer('d', { state: 'dead' }), peer('l', { state: 'left' }), peer('ok')],
        order: ['ok']
      },
      {
        name: 'answer no_peer listing why each peer serving the model was excluded',
        candidates: [peer('s', { state: 'suspect' }), peer('x', { enabled: false }), peer('other', { models: ['n'] })],
        request: { model: 'm' },
        code: 'no_peer',
        failureIncludes: ['s: suspect', 'x: disabled']
      },
      {
        name: 'skip a peer whose breaker is open',
        candidates: [peer('a'), peer('b', { load: load(2, 0, 4) })],
        breakers: new Map([['id-a', 'open']]),
        order: ['b']
      },
      {
        name: 'keep a half-open peer as eligible for its trial, saying so',
        candidates: [peer('a'), peer('b', { load: load(2, 0, 4) })],
        breakers: new Map([['id-a', 'half-open'], ['id-b', 'closed']]),
        order: ['a', 'b'],
        reasonIncludes: { a: 'breaker half-open (trial)' }
      },
      {
        name: 'skip a peer whose breaker predicate says open',
        candidates: [peer('a'), peer('b')],
        breakers: (peerId) => peerId === 'id-b',
        order: ['a']
      },
      {
        name: 'answer no_peer when every breaker is open',
        candidates: [peer('a'), peer('b')],
        breakers: new Map([['id-a', 'open'], ['id-b', 'open']]),
        code: 'no_peer',
        failureIncludes: ['a: breaker open', 'b: breaker open']
      }
    ])

    it('should pass the clock to a breaker predicate', () => {
      const seen: number[] = []
      run([peer('a')], {}, {}, (_peerId, now) => { seen.push(now); return false })
      assert.deepEqual(seen, [NOW])
    })

    it('should skip a peer with an open registry breaker and retry it half-open after the cool-down', () => {
      const breakers = createBreakers({ failureThreshold: 1, coolDownMs: 1_000 })
      breakers.failure('id-a', NOW)
      assert.deepEqual(names(run([peer('a'), peer('b', { load: load(1, 0, 4) })], {}, {}, breakers.isOpen)), ['b'], 'open')
      const later = route({ candidates: [peer('a'), peer('b', { load: load(1, 0, 4) })], request: {}, selfId: SELF, policy: DEFAULT_POLICY, breakers: breakers.isOpen, now: NOW + 1_000 })
      assert.deepEqual(names(later), ['a', 'b'], 'half-open')
    })
  })

  describe('route: reasons and results', () => {
    runRows([
      {
        name: 'give each candidate a reason naming tier, load and locality',
        candidates: [self({ tier: 2 }), peer('b', { tier: 2, load: load(1, 0, 4), latencyMs: 12.4 }), peer('c', { tier: 1, load: load(0, 0, 4) })],
        request: { tier: 2 },
        order: ['self', 'b', 'c'],
        reasons: [
          'tier 2 as requested, least loaded (0/4), local',
          'tier 2 as requested, load 1/4, 12 ms',
          'graceful fallback: tier 1 (after requested tier 2), least loaded (0/4), 10 ms'
        ]
      }
    ])

    it('should list skipped candidates with their reasons', () => {
      const decision = run([peer('a'), peer('d', { state: 'dead' }), peer('n', { models: ['other'] })], { model: 'm' })
      assert.ok(decision.ok)
      assert.deepEqual(decision.skipped, [
        { id: 'id-d', name: 'd', reason: 'dead' },
        { id: 'id-n', name: 'n', reason: 'does not serve m' }
      ])
    })

    it('should not reorder or change the input candidates', () => {
      const candidates = [peer('b', { load: load(3, 0, 4) }), peer('a')]
      const before = structuredClone(candidates)
      run(candidates)
      assert.deepEqual(candidates, before)
    })

    it('should carry extra candidate fields through to the result', () => {
      const candidates = [{ ...peer('h', { via: 'http' }), url: 'http://203.0.113.42:8000' }]
      const decision = route({ candidates, request: {}, selfId: SELF, policy: DEFAULT_POLICY, now: NOW })
      assert.ok(decision.ok)
      assert.equal(decision.candidates[0]?.url, 'http://203.0.113.42:8000')
    })
  })

  describe('route: membership changes', () => {
    it('should include a peer as soon as it joins the candidate list', () => {
      const before = [peer('a', { load: load(2, 0, 4) })]
      assert.deepEqual(names(run(before)), ['a'])
      assert.deepEqual(names(run([...before, peer('b', { load: load(0, 0, 4) })])), ['b', 'a'])
    })

    it('should drop a peer once it leaves or is removed from the candidate list', () => {
      const all = [peer('a'), peer('b', { load: load(1, 0, 4) })]
      assert.deepEqual(names(run(all)), ['a', 'b'])
      assert.deepEqual(names(run([{ ...peer('a'), state: 'left' }, all[1] as RouteCandidate])), ['b'], 'left')
      assert.deepEqual(names(run([all[1] as RouteCandidate])), ['b'], 'removed')
    })
  })

  describe('candidatesFromView', () => {
    function ann (peerId: string, name: string, fields: Partial<Announcement> = {}): Announcement {
      return {
        peer_id: peerId,
        name,
        incarnation: 1,
        seq: 1,
        state: 'alive',
        models: ['m'],
        tier: 0,
        enabled: true,
        load: { active: 0, queued: 0, capacity: 4 },
        api_port: 8000,
        addrs: [],
        version: '0.1.0',
        ...fields
      }
    }

    it('should map self to local and others to mesh, keeping state, load and measured latency', () => {
      const { view } = applyEvents(emptyView(SELF), [
        { type: 'announce', announcement: ann(SELF, 'me', { tier: 1 }), now: 0 },
        { type: 'announce', announcement: ann('id-a', 'a', { models: ['x', 'y'], load: { active: 1, queued: 2, capacity: 3 } }), now: 0 },
        { type: 'announce', announcement: ann('id-b', 'b', { enabled: false }), now: 0 },
        { type: 'unreachable', peerId: 'id-b', now: 10, reason: 'ping failed' }
      ], PROFILES.test)
      const candidates = candidatesFromView(view, new Map([['id-a', 4]]))
      const byId = new Map(candidates.map(c => [c.id, c]))
      assert.deepEqual(byId.get(SELF), {
        id: SELF, name: 'me', models: ['m'], tier: 1, enabled: true, state: 'alive', load: { active: 0, queued: 0, capacity: 4 }, via: 'local', latencyMs: 0
      })
      assert.deepEqual(byId.get('id-a'), {
        id: 'id-a', name: 'a', models: ['x', 'y'], tier: 0, enabled: true, state: 'alive', load: { active: 1, queued: 2, capacity: 3 }, via: 'mesh', latencyMs: 4
      })
      const b = byId.get('id-b')
      assert.equal(b?.state, 'dead', 'dead members stay candidates so the router can say no_peer')
      assert.equal(b?.enabled, false)
      assert.equal('latencyMs' in (b ?? {}), false, 'unmeasured latency is left out')
    })
  })

  describe('policy', () => {
    it('should default to prefer_local, graceful fallback and load balancing', () => {
      assert.deepEqual({ ...DEFAULT_POLICY }, { preferLocal: true, fallbackStrategy: 'graceful', loadBalance: true })
    })

    it('should map the cluster file routing section', () => {
      assert.deepEqual(policyFromConfig({ prefer_local: false, fallback_strategy: 'strict', load_balance: false }), { preferLocal: false, fallbackStrategy: 'strict', loadBalance: false })
    })
  })
})
