import assert from 'node:assert/strict'
import { prose, runConversations, runHot, runOneShots, type Message, type Reply, type Sample, type Send } from '../../scripts/bench/affinity-workloads.js'
import { acrossRunTargets, affinityTargets, cachedShare, figures, inFlight, routePolicies, warmFollowUps, type AffinityData, type Figures } from '../../scripts/bench/affinity-stats.js'
import { affinitySection, affinitySvg } from '../../scripts/bench/report-affinity.js'
import type { ResultFile } from '../../scripts/bench/results.js'

// The harness of `bench:affinity` without peers: workload drivers against a fake sender, and the
// figures and targets from hand-made samples. The benchmark itself is not run here.

/** A fake peer: answers after `ms`, records what it was sent, and counts requests at once. */
function fakeSender (ms = 2): { send: Send, sent: Array<{ messages: Message[], entry: number }>, maxAtOnce: () => number } {
  const sent: Array<{ messages: Message[], entry: number }> = []
  let now = 0
  let max = 0
  const send: Send = async (messages, entry) => {
    sent.push({ messages, entry })
    max = Math.max(max, ++now)
    const startedAt = performance.now()
    await new Promise(resolve => setTimeout(resolve, ms))
    now--
    const last = messages[messages.length - 1]?.content ?? ''
    const reply: Reply = { ok: true, startedAt, endedAt: performance.now(), ttftMs: 1, node: 'p1', content: `answer to ${last.slice(0, 12)}`, promptTokens: 10, cachedTokens: 5 }
    return reply
  }
  return { send, sent, maxAtOnce: () => max }
}

const s = (over: Partial<Sample>): Sample => ({ kind: 'one-shot', entry: 0, ok: true, start: 0, end: 1, ttft: 1, ...over })

describe('bench:affinity workloads', () => {
  it('should make the same prose from the same tag and different prose from another', () => {
    assert.equal(prose('x/1', 50), prose('x/1', 50))
    assert.notEqual(prose('x/1', 50), prose('x/2', 50))
    assert.equal(prose('x/1', 50).split(' ').length, 50)
  })

  it('should grow each conversation by its previous turn and answer, within the concurrency bound', async () => {
    const fake = fakeSender()
    const samples = await runConversations({ tag: 't', systemWords: 20, userWords: 3, conversations: 5, turns: 3, concurrency: 2, entries: 1, send: fake.send })
    assert.equal(samples.length, 15)
    assert.ok(fake.maxAtOnce() <= 2, `at most 2 at once, saw ${fake.maxAtOnce()}`)
    // Turn t of a conversation is system + t × (user, assistant) + user, and starts with turn t − 1's messages.
    const byConv = new Map<string, Message[][]>()
    for (const x of fake.sent) byConv.set(x.messages[0]?.content ?? '', [...(byConv.get(x.messages[0]?.content ?? '') ?? []), x.messages])
    assert.equal(byConv.size, 5, 'one distinct system prompt per conversation')
    for (const turns of byConv.values()) {
      assert.deepEqual(turns.map(m => m.length), [2, 4, 6])
      assert.deepEqual(turns[2]?.slice(0, 4), turns[1])
      assert.deepEqual(turns[1]?.slice(0, 2), turns[0])
      assert.equal(turns[1]?.[2]?.role, 'assistant')
    }
    assert.deepEqual(samples.filter(x => x.kind === 'first').length, 5)
  })

  it('should send every follow-up through the other entry peer when there are two', async () => {
    const fake = fakeSender()
    const samples = await runConversations({ tag: 't', systemWords: 5, userWords: 2, conversations: 2, turns: 3, concurrency: 2, entries: 2, send: fake.send })
    for (const x of samples) assert.equal(x.entry, ((x.conv ?? 0) + (x.turn ?? 0)) % 2)
  })

  it('should share one system prompt in (b) and none in (c)', async () => {
    const b = fakeSender()
    await runOneShots({ tag: 'b', systemWords: 10, userWords: 3, requests: 6, concurrency: 3, shared: true, entries: 1, send: b.send })
    assert.equal(new Set(b.sent.map(x => x.messages[0]?.content)).size, 1)
    assert.equal(new Set(b.sent.map(x => x.messages[1]?.content)).size, 6)
    const c = fakeSender()
    await runOneShots({ tag: 'c', systemWords: 10, userWords: 3, requests: 6, concurrency: 3, shared: false, entries: 1, send: c.send })
    assert.equal(new Set(c.sent.map(x => x.messages[0]?.content)).size, 6)
  })

  it('should run the hot conversation to its end with a bounded background beside it', async () => {
    const fake = fakeSender(3)
    const samples = await runHot({ tag: 'd', systemWords: 10, userWords: 3, hotClients: 2, hotTurns: 3, backgroundClients: 2, backgroundWords: 5, maxBackground: 4, send: fake.send })
    assert.equal(samples.filter(x => x.kind !== 'background').length, 6)
    const background = samples.filter(x => x.kind === 'background').length
    assert.ok(background >= 1 && background <= 4, `background requests: ${background}`)
    // One shared history: every hot request is a snapshot of it (a prefix of the longest) plus its own user turn.
    const hotSystem = fake.sent[0]?.messages[0]?.content
    const hot = fake.sent.filter(x => x.messages[0]?.content === hotSystem).map(x => x.messages)
    const longest = hot.reduce((a, b) => b.length > a.length ? b : a)
    for (const m of hot) assert.deepEqual(m.slice(0, -1), longest.slice(0, m.length - 1))
    // A client's last turn follows its own two earlier ones, at least: system + 2 pairs + its turn.
    assert.ok(longest.length >= 1 + 2 * 2 + 1, `longest hot request: ${longest.length} messages`)
  })
})

describe('bench:affinity figures', () => {
  it('should count a follow-up as warm only on the previous turn\'s peer', () => {
    const samples = [
      s({ kind: 'first', conv: 0, turn: 0, node: 'a' }), s({ kind: 'follow-up', conv: 0, turn: 1, node: 'a' }), s({ kind: 'follow-up', conv: 0, turn: 2, node: 'b' }),
      s({ kind: 'first', conv: 1, turn: 0, node: 'c' }), s({ kind: 'follow-up', conv: 1, turn: 1, node: 'c' }),
      s({ kind: 'follow-up', conv: 1, turn: 2, ok: false })
    ]
    assert.deepEqual(warmFollowUps(samples), { warm: 2, of: 3 })
  })

  it('should leave out each peer\'s first request from the cached share when asked', () => {
    const samples = [
      s({ node: 'a', start: 0, prompt: 100, cached: 0 }), s({ node: 'a', start: 5, prompt: 100, cached: 90 }),
      s({ node: 'b', start: 1, prompt: 100 }), s({ node: 'b', start: 6, prompt: 100, cached: 70 })
    ]
    assert.equal(cachedShare(samples, false), 0.4)
    assert.equal(cachedShare(samples, true), 0.8)
  })

  const inflightCases: Array<{ name: string, samples: Sample[], max: Record<string, number>, violations: number }> = [
    { name: 'spread evenly', samples: [s({ node: 'a', start: 0, end: 10 }), s({ node: 'b', start: 0, end: 10 }), s({ node: 'c', start: 0, end: 10 })], max: { a: 1, b: 1, c: 1 }, violations: 0 },
    // 4 on one peer, 0 on the others: mean 4/3, bound 3.67.
    { name: 'all on one peer', samples: [0, 1, 2, 3].map(i => s({ node: 'a', start: i, end: 20 })), max: { a: 4, b: 0, c: 0 }, violations: 1 },
    // Back to back (one ends as the next starts) is not overlap.
    { name: 'back to back', samples: [0, 1, 2, 3].map(i => s({ node: 'a', start: i * 10, end: i * 10 + 10 })), max: { a: 1, b: 0, c: 0 }, violations: 0 },
    { name: 'failed without a node is not counted', samples: [s({ node: 'a', start: 0, end: 5 }), s({ ok: false, start: 0, end: 5 })], max: { a: 1, b: 0, c: 0 }, violations: 0 }
  ]
  for (const c of inflightCases) {
    it(`should count requests in flight per peer: ${c.name}`, () => {
      const r = inFlight(c.samples, ['a', 'b', 'c'])
      assert.deepEqual(r.maxInFlight, c.max)
      assert.equal(r.balance.violations, c.violations)
    })
  }

  it('should take p50 and p95 of first turns and follow-ups separately, and wall time from first start to last end', () => {
    const samples = [
      s({ kind: 'first', conv: 0, turn: 0, start: 0, end: 1000, ttft: 900, node: 'a' }),
      ...[1, 2, 3].map(t => s({ kind: 'follow-up', conv: 0, turn: t, start: t * 1000, end: t * 1000 + 500, ttft: 100 * t, node: 'a' }))
    ]
    const f = figures(samples, ['a', 'b'])
    assert.deepEqual(f.ttftFirstMs, { n: 1, p50: 900, p95: 900 })
    assert.equal(f.ttftFollowUpMs.p50, 200)
    assert.equal(f.ttftFollowUpMs.p95, 290)
    assert.equal(f.wallS, 3.5)
    assert.deepEqual(f.perPeer, { a: 4, b: 0 })
    assert.equal(f.cachedReported, false)
  })
})

describe('bench:affinity targets', () => {
  const base: Figures = figures([s({ node: 'a' })], ['a'])
  const fig = (over: Partial<Figures>): Figures => ({ ...base, ...over })
  const data = (policies: string[], runs: Array<[string, string, Partial<Figures>]>): AffinityData => ({
    policies,
    policyFlag: policies.length > 1,
    servingPeers: ['a', 'b', 'c'],
    runs: runs.map(([workload, policy, f]) => ({ setup: '1 entry', workload: workload as any, policy, figures: fig(f), samples: [] }))
  })

  it('should judge the ratio targets against announced and in-flight from the same run', () => {
    const t = affinityTargets(data(['announced', 'in-flight', 'affinity'], [
      ['a', 'announced', { ttftFollowUpMs: { n: 24, p50: 3000, p95: 5000 }, wallS: 100 }],
      ['a', 'affinity', { ttftFollowUpMs: { n: 24, p50: 500, p95: 900 }, wallS: 60, warmFollowUps: { warm: 23, of: 24 } }],
      ['c', 'in-flight', { perSecond: 1 }],
      ['c', 'affinity', { perSecond: 0.9 }]
    ]))
    const by = (prefix: string): boolean | undefined => t.find(x => x.what.startsWith(prefix))?.met
    assert.equal(by('(a) follow-up TTFT'), true, '500 / 3000 ≤ 0.2')
    assert.equal(by('(a) wall time'), false, '60 / 100 > 0.5')
    assert.equal(by('(a) follow-ups on a warm peer'), true, '23 of 24 ≥ 90 %')
    assert.equal(by('(c) throughput'), false, '0.9 < 0.95')
  })

  it('should judge only announced\'s own figures when it is the only policy, and call an unreported cache a miss', () => {
    const t = affinityTargets(data(['announced'], [
      ['a', 'announced', { warmFollowUps: { warm: 12, of: 24 } }],
      ['b', 'announced', { cachedReported: false, cachedShareAfterFirst: NaN }],
      ['d', 'announced', { maxInFlight: { a: 4, b: 0, c: 0 }, balance: { violations: 3 } }]
    ]))
    assert.deepEqual(t.map(x => x.what.slice(0, 3)), ['(a)', '(b)', '(d)'])
    assert.ok(t.every(x => !x.met))
    assert.match(t[1]?.measured ?? '', /not reported/)
  })
})

describe('bench:affinity targets across runs', () => {
  const base: Figures = figures([s({ node: 'a' })], ['a'])
  const one = (policies: string[], policy: string, f: Partial<Figures>): AffinityData =>
    ({ policies, policyFlag: true, servingPeers: ['a'], runs: [{ setup: '1 entry', workload: 'a', policy, figures: { ...base, ...f }, samples: [] }] })

  it('should judge the after run\'s affinity against the before run\'s announced (today\'s code)', () => {
    const after = one(['announced', 'in-flight', 'affinity'], 'affinity', { ttftFollowUpMs: { n: 24, p50: 4000, p95: 6000 }, wallS: 160 })
    const before = one(['announced'], 'announced', { ttftFollowUpMs: { n: 24, p50: 26000, p95: 40000 }, wallS: 310 })
    const t = acrossRunTargets(after, before)
    assert.deepEqual(t.map(x => x.met), [true, false], '4.0 / 26 ≤ 0.2; 160 / 310 > 0.5')
    assert.match(t[0]?.what ?? '', /affinity$/)
  })

  it('should judge nothing when either run lacks workload (a)', () => {
    assert.deepEqual(acrossRunTargets(one(['affinity'], 'affinity', {}), { policies: ['announced'], policyFlag: false, servingPeers: [], runs: [] }), [])
  })
})

describe('bench:affinity policy detection', () => {
  it('should read the policies from start --help, and none when the option is absent', () => {
    const known = ['announced', 'in-flight', 'affinity']
    assert.deepEqual(routePolicies('  --route-policy <announced|in-flight|affinity>  how to route\n  --no-share  x', known), known)
    // Values in a wrapped description, in another order; the next option's text is not read.
    const help = '  --route-policy <policy>  affinity (keep prompts where\n                           cached) | announced (as before)\n  --max-handovers <n>  in-flight'
    assert.deepEqual(routePolicies(help, known), ['announced', 'affinity'])
    assert.deepEqual(routePolicies('  --no-continue   end a stream with an error', known), [])
  })
})

describe('bench:affinity report section', () => {
  const file = (policies: string[], cachedTokens: number | undefined, mode: 'full' | 'quick' = 'full'): ResultFile => {
    const samples: Sample[] = [
      s({ kind: 'first', conv: 0, turn: 0, node: 'serve-1', start: 0, end: 3000, ttft: 2900, prompt: 1000 }),
      s({ kind: 'follow-up', conv: 0, turn: 1, node: 'serve-1', start: 3000, end: 3500, ttft: 400, prompt: 1050, ...(cachedTokens != null ? { cached: cachedTokens } : {}) })
    ]
    const runs = policies.flatMap(policy => (['a', 'b', 'c', 'd'] as const).map(workload => ({ setup: '1 entry' as const, workload, policy, figures: figures(samples, ['serve-1', 'serve-2', 'serve-3']), samples })))
    const data: AffinityData = { policies, policyFlag: policies.length > 1, servingPeers: ['serve-1', 'serve-2', 'serve-3'], runs }
    return {
      part: 'affinity',
      title: 't',
      machine: { cpuModel: 'x', cores: 2, memoryGb: 1, os: 'linux', node: 'v20', loadAvgStart: 1, loadAvgEnd: 2 },
      run: { date: '2026-12-06T12:00:00.000Z', gitCommit: 'abcdef0123', gitDirty: false, command: 'c', mode, durationSeconds: 1 },
      params: { servingPeers: '3', model: 'm', maxTokens: 16, firstTurnPromptTokens: 1000, sizes: { systemWords: 190, a: { conversations: 8, turns: 4, concurrency: 4 }, b: { requests: 16, concurrency: 4 }, c: { requests: 16, concurrency: 4, systemWords: 55 }, d: { hotClients: 2, hotTurns: 3, backgroundClients: 2 }, twoEntries: { conversations: 4, turns: 3 } } },
      data,
      targets: affinityTargets(data),
      notes: []
    }
  }

  it('should show the before run alone, with an unreported cache said so', () => {
    const text = affinitySection(undefined, file(['announced'], undefined), undefined)
    assert.match(text, /before: announced/)
    assert.match(text, /not reported/)
    assert.match(text, /no run yet/)
    assert.match(affinitySvg(undefined, file(['announced'], undefined)), /^<svg/)
  })

  it('should put the before run and every policy of the after run side by side, with targets judged on the after run', () => {
    const text = affinitySection(file(['announced', 'in-flight', 'affinity'], 1000), file(['announced'], undefined), undefined)
    for (const row of ['before: announced', 'after: announced', 'after: in-flight', 'after: affinity']) assert.ok(text.includes(`| ${row} |`), row)
    // 1,000 of 2,050 prompt tokens cached; after each peer's first request, 1,000 of 1,050.
    assert.match(text, /49 % \(95 %\)/)
    assert.match(text, /no `route-decision.json` yet/)
  })

  it('should not put a quick after run beside a full before run', () => {
    const text = affinitySection(file(['announced', 'affinity'], 1000, 'quick'), file(['announced'], undefined), undefined)
    assert.ok(!text.includes('| before: announced |'))
    assert.match(text, /not put side by side/)
  })
})
