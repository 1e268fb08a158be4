import assert from 'node:assert/strict'
import { Swim } from '../../src/membership/swim.js'
import { carriersOf, changeOf, type AnnounceReason } from '../../src/membership/carriers.js'
import { PROFILES } from '../../src/membership/profiles.js'
import type { Update } from '../../src/membership/messages.js'
import type { Announcement } from '../../src/membership/types.js'
import type { SelfDescription } from '../../src/membership/self-announcer.js'
import { silentLogger } from '../../src/log.js'
import { mulberry32 } from '../../src/util/prng.js'
import { ManualClock } from '../helpers/manual-clock.js'
import { ScriptedTransport } from '../helpers/scripted-transport.js'

const T = PROFILES.test

function ann (peer: string, fields: Partial<Announcement> = {}): Announcement {
  return {
    peer_id: peer, name: peer, incarnation: 1, seq: 1, state: 'alive', models: ['m'], tier: 0, enabled: true,
    load: { active: 0, queued: 0, capacity: 1 }, api_port: 1, addrs: [], version: 'x', sig: 'ok', ...fields
  }
}

const SELF: SelfDescription = { name: 'me', models: ['m'], tier: 0, enabled: true, load: { active: 0, queued: 0, capacity: 1 }, apiPort: 1, version: 'x' }

describe('carriers: who carries which announcement', () => {
  const rows: Array<{ reason: AnnounceReason, topic: boolean, swim: boolean }> = [
    { reason: 'join', topic: true, swim: true },
    { reason: 'change', topic: true, swim: false },
    { reason: 'load', topic: false, swim: true },
    { reason: 'refute', topic: true, swim: true },
    { reason: 'leave', topic: true, swim: true }
  ]
  for (const row of rows) {
    it(`should carry a ${row.reason} ${[row.topic ? 'on the topic' : '', row.swim ? 'over SWIM' : ''].filter(Boolean).join(' and ')}`, () => {
      assert.deepEqual(carriersOf(row.reason, true), { topic: row.topic, swim: row.swim })
    })
    it(`should carry a ${row.reason} over SWIM alone without a topic (the simulator)`, () => {
      assert.deepEqual(carriersOf(row.reason, false), { topic: false, swim: true })
    })
  }

  const changes: Array<{ name: string, patch: Partial<SelfDescription>, expect: 'none' | 'load' | 'change' }> = [
    { name: 'models', patch: { models: ['m', 'n'] }, expect: 'change' },
    { name: 'digests', patch: { digests: { m: '0123456789abcdef' } }, expect: 'change' },
    { name: 'shared files', patch: { files: ['0123456789abcdef'] }, expect: 'change' },
    { name: 'tier', patch: { tier: 1 }, expect: 'change' },
    { name: 'enabled', patch: { enabled: false }, expect: 'change' },
    { name: 'load', patch: { load: { active: 1, queued: 0, capacity: 1 } }, expect: 'load' },
    { name: 'load and models together', patch: { load: { active: 1, queued: 0, capacity: 1 }, models: [] }, expect: 'change' },
    { name: 'the same values', patch: { models: ['m'], tier: 0, load: { active: 0, queued: 0, capacity: 1 } }, expect: 'none' }
  ]
  for (const row of changes) {
    it(`should classify a patch of ${row.name} as ${row.expect}`, () => {
      assert.equal(changeOf(SELF, { ...SELF, ...row.patch }), row.expect)
    })
  }
})

/** A started Swim with a recording topic: what it publishes, and what SWIM carries of its own announcements. */
async function setup (heard = 2, listeners?: () => number): Promise<{ swim: Swim, clock: ManualClock, transport: ScriptedTransport, published: Announcement[], addrs: string[] }> {
  const clock = new ManualClock()
  const transport = new ScriptedTransport(clock)
  const published: Announcement[] = []
  const addrs = ['/ip4/127.0.0.1/tcp/1']
  const swim = new Swim({
    selfId: 'me',
    self: SELF,
    addrs: () => addrs,
    transport,
    topic: { publish: async a => { published.push(a); return heard }, ...(listeners != null ? { listeners } : {}) },
    signer: { sign: async a => ({ ...a, sig: 'ok' }), verify: async a => a.sig === 'ok' },
    clock,
    timing: T,
    logger: silentLogger(),
    random: mulberry32(5),
    incarnation: 100,
    seed: [ann('A'), ann('B')]
  })
  await swim.start()
  return { swim, clock, transport, published, addrs }
}

const selfOverSwim = (transport: ScriptedTransport, from: number): number[] => transport.sent.slice(from)
  .flatMap(s => s.message.updates)
  .flatMap((u: Update) => u.type === 'alive' && u.announcement.peer_id === 'me' ? [u.announcement.seq] : [])

describe('SWIM with a gossipsub topic: what is published on which change', () => {
  it('should publish its join once, then nothing for a minute of probes and anti-entropy', async () => {
    const { swim, clock, transport, published } = await setup()
    assert.deepEqual(published.map(a => [a.seq, a.state]), [[1, 'alive']], 'the join')
    await clock.advance(60_000)
    assert.equal(published.length, 1, 'nothing periodic on the topic')
    // The join also went over SWIM, a bounded number of times (3 members: 4 × ⌈log10 4⌉ = 4).
    assert.deepEqual(selfOverSwim(transport, 0), [1, 1, 1, 1], 'the join over SWIM, 4 times, then nothing')
    assert.ok(transport.ofType('ping').length > 500, 'SWIM kept probing meanwhile')
    assert.ok(transport.exchanges.length >= 20, 'and exchanging views')
    swim.stop()
  })

  const rows: Array<{ name: string, act: (s: Awaited<ReturnType<typeof setup>>) => void, topic: boolean, swim: boolean }> = [
    { name: 'a model appearing', act: s => { s.swim.updateSelf({ models: ['m', 'new'] }) }, topic: true, swim: false },
    { name: 'a model going', act: s => { s.swim.updateSelf({ models: [] }) }, topic: true, swim: false },
    { name: 'new digests', act: s => { s.swim.updateSelf({ digests: { m: '0123456789abcdef' } }) }, topic: true, swim: false },
    { name: 'new shared files', act: s => { s.swim.updateSelf({ files: ['0123456789abcdef'] }) }, topic: true, swim: false },
    { name: 'a tier change', act: s => { s.swim.updateSelf({ tier: 2 }) }, topic: true, swim: false },
    { name: 'being disabled', act: s => { s.swim.updateSelf({ enabled: false }) }, topic: true, swim: false },
    { name: 'new addresses', act: s => { s.addrs.push('/ip4/127.0.0.1/tcp/2'); s.swim.addressesMayHaveChanged() }, topic: true, swim: false },
    { name: 'the same addresses', act: s => { s.swim.addressesMayHaveChanged() }, topic: false, swim: false },
    { name: 'a load change', act: s => { s.swim.updateSelf({ load: { active: 1, queued: 0, capacity: 1 } }) }, topic: false, swim: true },
    { name: 'the same models again', act: s => { s.swim.updateSelf({ models: ['m'] }) }, topic: false, swim: false },
    {
      name: 'a refutation',
      act: s => { void s.transport.handlers?.onRequest('A', { type: 'gossip', updates: [{ type: 'suspect', peer_id: 'me', incarnation: 100, seq: 1, from: 'A' }] }) },
      topic: true,
      swim: true
    }
  ]
  for (const row of rows) {
    it(`should ${row.topic ? 'publish' : 'not publish'} ${row.name} on the topic and ${row.swim ? '' : 'not '}queue it for SWIM`, async () => {
      const s = await setup()
      await s.clock.advance(1_000)
      const mark = s.transport.sent.length
      row.act(s)
      await s.clock.advance(2_000)
      assert.deepEqual(s.published.slice(1).map(a => a.seq), row.topic ? [2] : [], 'published after the join')
      const overSwim = selfOverSwim(s.transport, mark)
      if (row.swim) assert.ok(overSwim.length > 0 && overSwim.every(seq => seq === 2), `seq 2 over SWIM: ${overSwim.join()}`)
      else assert.deepEqual(overSwim, [], 'nothing of ours over SWIM')
      s.swim.stop()
    })
  }

  it('should publish its leave on the topic and send it directly to members', async () => {
    const { swim, clock, transport, published } = await setup()
    await clock.advance(500)
    const leaving = swim.leave(AbortSignal.timeout(5_000))
    await clock.advance(10)
    await leaving
    assert.deepEqual(published.slice(1).map(a => a.state), ['leaving'])
    const goodbyes = transport.sent.filter(s => s.message.updates.some(u => u.type === 'alive' && u.announcement.state === 'leaving'))
    assert.deepEqual(goodbyes.map(g => g.to).sort(), ['A', 'B'])
    swim.stop()
  })

  it('should take an announcement from the topic, and over SWIM pass it on only to chase a verdict still queued about its peer', async () => {
    const s = await setup()
    await s.clock.advance(500)
    const handlers = s.transport.handlers
    assert.ok(handlers != null)
    // B says A is suspect: we take the verdict and queue it for spreading.
    await handlers.onRequest('B', { type: 'gossip', updates: [{ type: 'suspect', peer_id: 'A', incarnation: 1, seq: 1, from: 'B' }] })
    assert.equal(s.swim.view().members.get('A')?.state, 'suspect')
    // A's refutation arrives on the topic: the view takes it, and it replaces the verdict in SWIM's queue.
    s.swim.receiveAnnouncement('C', ann('A', { seq: 2 }))
    assert.equal(s.swim.view().members.get('A')?.state, 'alive')
    const mark = s.transport.sent.length
    await s.clock.advance(2_000)
    const aboutA = s.transport.sent.slice(mark).flatMap(x => x.message.updates).filter(u => (u.type === 'alive' ? u.announcement.peer_id : u.peer_id) === 'A')
    assert.ok(aboutA.length > 0 && aboutA.every(u => u.type === 'alive' && u.announcement.seq === 2), `only A's refutation spread: ${JSON.stringify(aboutA.map(u => u.type))}`)
    // B changes its tier on the topic, nothing about B is queued: gossipsub alone carries it.
    s.swim.receiveAnnouncement('C', ann('B', { seq: 2, tier: 1 }))
    assert.equal(s.swim.view().members.get('B')?.announcement.tier, 1)
    const mark2 = s.transport.sent.length
    await s.clock.advance(2_000)
    assert.deepEqual(s.transport.sent.slice(mark2).flatMap(x => x.message.updates).filter(u => u.type === 'alive' && u.announcement.peer_id === 'B'), [], 'not passed on over SWIM')
    s.swim.stop()
  })

  it('should publish a new version when the first listener appears after a join nobody heard, and only then', async () => {
    const { swim, clock, published } = await setup(0)
    await clock.advance(100)
    swim.topicListenerAppeared()
    await clock.advance(100)
    assert.deepEqual(published.map(a => a.seq), [1, 2], 'the join again, as seq 2')
    swim.stop()
    const heard = await setup(1)
    await heard.clock.advance(100)
    heard.swim.topicListenerAppeared()
    await heard.clock.advance(100)
    assert.deepEqual(heard.published.map(a => a.seq), [1], 'a heard join is not repeated')
    heard.swim.stop()
  })

  it('should hold the join back while nobody listens and publish that same version to the first listener', async () => {
    let listeners = 0
    const { swim, clock, published } = await setup(1, () => listeners)
    await clock.advance(100)
    assert.equal(published.length, 0, 'nothing published to an empty topic')
    listeners = 1
    swim.topicListenerAppeared()
    await clock.advance(100)
    assert.deepEqual(published.map(a => a.seq), [1], 'the join as it was made (seq 1), not a new version')
    // A second listener: the version was heard, nothing more to publish.
    swim.topicListenerAppeared()
    await clock.advance(100)
    assert.deepEqual(published.map(a => a.seq), [1])
    swim.stop()
  })

  it('should hold a change made while nobody listens and publish it to the first listener', async () => {
    let listeners = 0
    const { swim, clock, published } = await setup(1, () => listeners)
    swim.updateSelf({ tier: 2 })
    await clock.advance(100)
    assert.equal(published.length, 0, 'nothing published to an empty topic')
    listeners = 1
    swim.topicListenerAppeared()
    await clock.advance(100)
    assert.deepEqual(published.map(a => [a.seq, a.tier]), [[2, 2]], 'the newest version, once')
    swim.stop()
  })
})

describe('SWIM with a gossipsub topic: relaying a joiner\'s announcement as its first contact', () => {
  const entry = (a: Announcement): { announcement: Announcement, state: 'alive' } => ({ announcement: a, state: 'alive' })
  const rows: Array<{ name: string, act: (s: Awaited<ReturnType<typeof setup>>) => Promise<unknown>, relayed: string[] }> = [
    { name: 'a newcomer\'s own announcement in its push-pull', act: async s => await s.transport.handlers?.onViewExchange('D', [entry(ann('D'))]), relayed: ['D/1/1'] },
    { name: 'a restarted member\'s new incarnation in its push-pull', act: async s => await s.transport.handlers?.onViewExchange('B', [entry(ann('B', { incarnation: 2 }))]), relayed: ['B/2/1'] },
    { name: 'a known member\'s newer version of the same incarnation (a load change)', act: async s => await s.transport.handlers?.onViewExchange('B', [entry(ann('B', { seq: 2 }))]), relayed: [] },
    { name: 'a stranger listed in someone else\'s view', act: async s => await s.transport.handlers?.onViewExchange('B', [entry(ann('C'))]), relayed: [] },
    { name: 'a newcomer\'s announcement gossiped over SWIM', act: async s => await s.transport.handlers?.onRequest('D', { type: 'gossip', updates: [{ type: 'alive', announcement: ann('D') }] }), relayed: [] },
    { name: 'a newcomer\'s announcement with a bad signature', act: async s => await s.transport.handlers?.onViewExchange('D', [entry(ann('D', { sig: 'forged' }))]), relayed: [] },
    { name: 'a newcomer\'s announcement taken from the topic', act: async s => { s.swim.receiveAnnouncement('D', ann('D')) }, relayed: [] }
  ]
  for (const row of rows) {
    it(`should ${row.relayed.length > 0 ? 'publish' : 'not publish'} ${row.name}`, async () => {
      const s = await setup()
      await s.clock.advance(500)
      await row.act(s)
      await s.clock.advance(500)
      assert.deepEqual(s.published.slice(1).map(a => `${a.peer_id}/${a.incarnation}/${a.seq}`), row.relayed)
      s.swim.stop()
    })
  }
})
