import assert from 'node:assert/strict'
import { Swim, suspicionTimeout } from '../../src/membership/swim.js'
import { PROFILES } from '../../src/membership/profiles.js'
import type { Update, SwimReply } from '../../src/membership/messages.js'
import type { Announcement } from '../../src/membership/types.js'
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

/** A started Swim "me" that knows A and B, on a scripted network where everyone acks. */
async function setup (): Promise<{ swim: Swim, clock: ManualClock, transport: ScriptedTransport }> {
  const clock = new ManualClock()
  const transport = new ScriptedTransport(clock)
  const swim = new Swim({
    selfId: 'me',
    self: { name: 'me', models: ['m'], tier: 0, enabled: true, load: { active: 0, queued: 0, capacity: 1 }, apiPort: 1, version: 'x' },
    addrs: () => [],
    transport,
    signer: { sign: async a => ({ ...a, sig: 'ok' }), verify: async a => a.sig === 'ok' },
    clock,
    timing: T,
    logger: silentLogger(),
    random: mulberry32(11),
    incarnation: 100,
    seed: [ann('A'), ann('B')]
  })
  await swim.start()
  return { swim, clock, transport }
}

/** Every update that left "me" (piggybacked or gossiped) from index `from` of the sent log on. */
function updatesSent (transport: ScriptedTransport, from = 0): Update[] {
  return transport.sent.slice(from).flatMap(s => s.message.updates)
}

const selfSeqs = (updates: Update[]): number[] =>
  updates.flatMap(u => u.type === 'alive' && u.announcement.peer_id === 'me' ? [u.announcement.seq] : [])

describe('SWIM membership: dissemination and refutation', () => {
  it('should spread its join a bounded number of times, then send nothing periodic but probes and anti-entropy', async () => {
    const { swim, clock, transport } = await setup()
    await clock.advance(2_000)
    const joinCopies = selfSeqs(updatesSent(transport)).length
    // 3 members: 4 × ⌈log10 4⌉ = 4 transmissions.
    assert.equal(joinCopies, 4, 'the join announcement went out exactly retransmit-limit times')
    const mark = transport.sent.length
    const exchangesBefore = transport.exchanges.length
    await clock.advance(10_000)
    const later = transport.sent.slice(mark)
    assert.deepEqual(updatesSent(transport, mark), [], 'no updates while nothing changes')
    // Probes, each followed by an empty gossip that times the round trip (prober.ts).
    assert.deepEqual([...new Set(later.map(s => s.message.type))].sort(), ['gossip', 'ping'], 'only probes and their round-trip echoes')
    const pings = later.filter(s => s.message.type === 'ping').length
    const echoes = later.filter(s => s.message.type === 'gossip').length
    // One probe per period (100 ms), ±1 for the phase; one echo per answered probe.
    assert.ok(Math.abs(pings - 100) <= 1, `${pings} probes in 10 s`)
    assert.ok(Math.abs(echoes - pings) <= 1, `${echoes} echoes for ${pings} probes`)
    const exchanges = transport.exchanges.length - exchangesBefore
    // Anti-entropy every 2 s ± 50 %: 4 to 10 rounds in 10 s.
    assert.ok(exchanges >= 4 && exchanges <= 10, `${exchanges} push-pulls in 10 s`)
    swim.stop()
  })

  const changes: Array<{ name: string, patch: Parameters<Swim['updateSelf']>[0], spread: boolean }> = [
    { name: 'a new model list', patch: { models: ['m', 'n'] }, spread: true },
    { name: 'a load change', patch: { load: { active: 1, queued: 0, capacity: 1 } }, spread: true },
    { name: 'a tier change', patch: { tier: 2 }, spread: true },
    { name: 'being disabled', patch: { enabled: false }, spread: true },
    { name: 'the same load again', patch: { load: { active: 0, queued: 0, capacity: 1 } }, spread: false },
    { name: 'the same models again', patch: { models: ['m'] }, spread: false }
  ]
  for (const row of changes) {
    it(`should ${row.spread ? '' : 'not '}spread ${row.name}`, async () => {
      const { swim, clock, transport } = await setup()
      await clock.advance(2_000)
      const mark = transport.sent.length
      swim.updateSelf(row.patch)
      await clock.advance(2_000)
      const seqs = selfSeqs(updatesSent(transport, mark))
      if (row.spread) {
        assert.ok(seqs.length > 0 && seqs.every(s => s === 2), `seq 2 spread: ${seqs.join()}`)
        assert.ok(transport.ofType('gossip').some(g => g.at >= 2_000), 'a gossip round carried it')
      } else {
        assert.deepEqual(seqs, [])
      }
      swim.stop()
    })
  }

  it('should suspect a member whose probes go unanswered, spread it, and confirm it dead after a second cycle', async () => {
    const { swim, clock, transport } = await setup()
    transport.script('A', message => message.type === 'ping' ? 'silent' : { answer: { type: 'ack', updates: [] } })
    transport.script('B', message => message.type === 'ping-req' ? { answer: { type: 'nack', updates: [] } } : { answer: { type: 'ack', updates: [] } })
    const states: string[] = []
    swim.addEventListener('change', e => { if (e.detail.peerId === 'A' && e.detail.kind === 'state') states.push(e.detail.to) })
    await clock.advance(3_000)
    assert.deepEqual(states, ['suspect', 'dead'])
    const sent = updatesSent(transport)
    assert.ok(sent.some(u => u.type === 'suspect' && u.peer_id === 'A'), 'the suspicion was spread')
    assert.ok(sent.some(u => u.type === 'dead' && u.peer_id === 'A'), 'the death was spread')
    swim.stop()
  })

  it('should refute a suspicion about itself in the ack of the probe that carries it', async () => {
    const { swim, clock, transport } = await setup()
    await clock.advance(500)
    const handlers = transport.handlers
    assert.ok(handlers != null)
    const reply = await handlers.onRequest('A', { type: 'ping', seen: { incarnation: 100, seq: 1, state: 'suspect' }, updates: [] })
    assert.equal(reply.type, 'ack')
    assert.equal((reply as Extract<SwimReply, { type: 'ack' }>).self?.seq, 2, 'a newer announcement in the ack')
    swim.stop()
  })

  it('should refute a disseminated suspicion or death about itself, and ignore a stale one', async () => {
    const { swim, clock, transport } = await setup()
    await clock.advance(500)
    const handlers = transport.handlers
    assert.ok(handlers != null)
    const at = transport.sent.length
    await handlers.onRequest('A', { type: 'gossip', updates: [{ type: 'dead', peer_id: 'me', incarnation: 100, seq: 1, from: 'A', reason: 'test' }] })
    await clock.advance(500)
    assert.deepEqual([...new Set(selfSeqs(updatesSent(transport, at)))], [2], 'refuted with seq 2')
    const at2 = transport.sent.length
    await handlers.onRequest('A', { type: 'gossip', updates: [{ type: 'suspect', peer_id: 'me', incarnation: 100, seq: 1, from: 'B' }] })
    await clock.advance(500)
    assert.deepEqual(selfSeqs(updatesSent(transport, at2)), [], 'a suspicion older than our seq 2 needs no refutation')
    swim.stop()
  })

  it('should take a third party\'s suspicion, probe the suspect at once, and revive it when it answers with a newer version', async () => {
    const { swim, clock, transport } = await setup()
    await clock.advance(500)
    transport.script('A', message => message.type === 'ping' && message.seen?.state === 'suspect'
      ? { answer: { type: 'ack', self: ann('A', { seq: 2 }), updates: [] } }
      : { answer: { type: 'ack', updates: [] } })
    const states: string[] = []
    swim.addEventListener('change', e => { if (e.detail.peerId === 'A' && e.detail.kind === 'state') states.push(e.detail.to) })
    const handlers = transport.handlers
    assert.ok(handlers != null)
    const at = transport.sent.length
    await handlers.onRequest('B', { type: 'gossip', updates: [{ type: 'suspect', peer_id: 'A', incarnation: 1, seq: 1, from: 'B' }] })
    await clock.advance(50)
    assert.deepEqual(states, ['suspect', 'alive'])
    assert.ok(transport.sent.slice(at).some(s => s.to === 'A' && s.message.type === 'ping'), 'A was probed at once')
    assert.equal(swim.view().members.get('A')?.announcement.seq, 2)
    swim.stop()
  })

  it('should pass on over SWIM what a full view brings only when it is news: the sender itself, or a member it already knew', async () => {
    const { swim, clock, transport } = await setup()
    await clock.advance(2_000) // our own join has gone out
    const handlers = transport.handlers
    assert.ok(handlers != null)
    const mark = transport.sent.length
    // B pushes its view (B dialed us): B's newer self, A's newer version, and a stranger C.
    await handlers.onViewExchange('B', [
      { announcement: ann('B', { seq: 2 }), state: 'alive' },
      { announcement: ann('A', { seq: 2 }), state: 'alive' },
      { announcement: ann('C'), state: 'alive' }
    ])
    assert.deepEqual([...swim.view().members.keys()].sort(), ['A', 'B', 'C', 'me'], 'every entry is taken')
    await clock.advance(2_000)
    const spread = new Set(updatesSent(transport, mark).flatMap(u => u.type === 'alive' ? [`${u.announcement.peer_id}/${u.announcement.seq}`] : []))
    assert.deepEqual([...spread].sort(), ['A/2', 'B/2'], 'the stranger C is not re-spread: B had it, and C spreads its own join')
    swim.stop()
  })

  it('should announce leaving to every member at once', async () => {
    const { swim, clock, transport } = await setup()
    await clock.advance(500)
    const at = transport.sent.length
    const leaving = swim.leave(AbortSignal.timeout(5_000))
    await clock.advance(10)
    await leaving
    const goodbyes = transport.sent.slice(at).filter(s => s.message.updates.some(u => u.type === 'alive' && u.announcement.state === 'leaving'))
    assert.deepEqual(goodbyes.map(g => g.to).sort(), ['A', 'B'])
    swim.stop()
  })
})

describe('suspicion timeout (scaled with N, stretched by local health)', () => {
  const rows: Array<{ n: number, slackMs: number, expected: number, why: string }> = [
    { n: 1, slackMs: 0, expected: 5_000, why: 'a lone peer: the profile figure' },
    { n: 10, slackMs: 0, expected: 5_000, why: 'up to 10 members: the profile figure' },
    { n: 100, slackMs: 0, expected: 10_000, why: '× log10 100' },
    { n: 1_000, slackMs: 0, expected: 15_000, why: '× log10 1,000' },
    { n: 10, slackMs: 1_200, expected: 6_200, why: 'our own timers 300 ms late (slack 4 × lag): stretched by the slack' },
    { n: 100, slackMs: 400, expected: 10_400, why: 'scaled, then stretched' }
  ]
  for (const row of rows) {
    it(`should give ${row.expected} ms at N = ${row.n}, slack ${row.slackMs} ms (${row.why})`, () => {
      assert.equal(suspicionTimeout(5_000, row.n, row.slackMs), row.expected)
    })
  }
})
