import assert from 'node:assert/strict'
import { clockTimeout } from '../../src/membership/clock.js'
import type { ViewEntry } from '../../src/membership/announcement.js'
import type { SwimReply, SwimRequest } from '../../src/membership/messages.js'
import type { MembershipTransport } from '../../src/membership/transport.js'
import type { Announcement } from '../../src/membership/types.js'
import { FRAME_PREFIX_BYTES, SimNetwork, SizeEstimator } from '../../scripts/sim/network.js'
import { VirtualClock } from '../../scripts/sim/virtual-clock.js'
import { SIM_SIGNATURE, simPeerId } from '../../scripts/sim/cluster.js'
import { poissonUpper95 } from '../../scripts/sim/rows.js'
import { spliceSection, START_MARKER, END_MARKER } from '../../scripts/sim/report.js'
import { checkShape } from '../../scripts/sim/suite.js'
import type { SimRow } from '../../scripts/sim/rows.js'

function announcement (i: number): Announcement {
  const id = simPeerId(i)
  return { peer_id: id, name: `sim-${i}`, incarnation: 1, seq: 3, state: 'alive', models: ['m'], tier: 1, enabled: true, load: { active: 0, queued: 0, capacity: 4 }, api_port: 1, addrs: [`/ip4/10.0.0.${i}/tcp/4001/p2p/${id}`], version: '0.1.0', sig: SIM_SIGNATURE }
}

const echo = (transport: MembershipTransport): void => {
  transport.handle({
    onRequest: async () => ({ type: 'ack', updates: [] }),
    onViewExchange: async (_from, entries) => entries
  })
}

describe('simulator: virtual clock', () => {
  it('should fire timers in time order, same-time timers in the order they were set', async () => {
    const clock = new VirtualClock()
    const fired: string[] = []
    clock.setTimeout(() => fired.push('b@20'), 20)
    clock.setTimeout(() => fired.push('a@10'), 10)
    clock.setTimeout(() => fired.push('c@20'), 20)
    const cancelled = clock.setTimeout(() => fired.push('x@15'), 15)
    clock.clearTimeout(cancelled)
    await clock.run(100)
    assert.deepEqual(fired, ['a@10', 'b@20', 'c@20'])
    assert.equal(clock.now(), 100)
  })

  it('should let a promise chain started by one timer settle before the next timer fires', async () => {
    const clock = new VirtualClock()
    let value = 0
    clock.setTimeout(() => {
      void (async () => {
        for (let i = 0; i < 20; i++) await Promise.resolve()
        await new Promise<void>(resolve => { queueMicrotask(resolve) })
        value = 1
      })()
    }, 5)
    let seen = -1
    clock.setTimeout(() => { seen = value }, 5)
    await clock.run(10)
    assert.equal(seen, 1)
  })

  it('should abort a clockTimeout signal at its virtual deadline, not before', async () => {
    const clock = new VirtualClock()
    const { signal } = clockTimeout(clock, 250, 'probe')
    await clock.run(249)
    assert.equal(signal.aborted, false)
    await clock.run(250)
    assert.equal(signal.aborted, true)
    assert.equal((signal.reason as Error).name, 'ProbeTimeoutError')
  })
})

describe('simulator: network', () => {
  it('should take no virtual time for a round trip at zero latency (the known value)', async () => {
    const clock = new VirtualClock()
    const net = new SimNetwork({ clock, random: Math.random, latencyMs: [0, 0], loss: 0 })
    const a = net.attach('a')
    echo(net.attach('b'))
    const reply = a.request('b', { type: 'ping', updates: [] }, new AbortController().signal)
    await clock.run(0)
    assert.deepEqual(await reply, { type: 'ack', updates: [] })
    assert.equal(clock.now(), 0)
  })

  it('should deliver within two one-way latencies plus the receiver\'s slowness', async () => {
    const clock = new VirtualClock()
    const net = new SimNetwork({ clock, random: Math.random, latencyMs: [10, 20], loss: 0 })
    const a = net.attach('a')
    echo(net.attach('b'))
    net.setSlow('b', 100)
    let answeredAt = -1
    void a.request('b', { type: 'ping', updates: [] }, new AbortController().signal).then(() => { answeredAt = clock.now() })
    await clock.run(1_000)
    assert.ok(answeredAt >= 120 && answeredAt <= 140, `answered at ${answeredAt} ms`)
  })

  it('should reject a lost request when its signal aborts, at that time, and leave no listener behind', async () => {
    const clock = new VirtualClock()
    const net = new SimNetwork({ clock, random: Math.random, latencyMs: [1, 1], loss: 1 })
    const a = net.attach('a')
    echo(net.attach('b'))
    const { signal } = clockTimeout(clock, 250, 'probe')
    let rejectedAt = -1
    const outcome = a.request('b', { type: 'ping', updates: [] }, signal).catch((err: Error) => { rejectedAt = clock.now(); return err })
    await clock.run(1_000)
    assert.equal(((await outcome) as Error).name, 'ProbeTimeoutError')
    assert.equal(rejectedAt, 250)
    assert.equal(net.dropped.loss, 1)
    assert.equal(net.traffic('a').sentMsgs, 1)
    assert.equal(net.traffic('b').recvMsgs, 0)
  })

  it('should deliver nothing to a crashed peer or across a partition', async () => {
    const clock = new VirtualClock()
    const net = new SimNetwork({ clock, random: Math.random, latencyMs: [1, 1], loss: 0 })
    const a = net.attach('a')
    echo(net.attach('b'))
    echo(net.attach('c'))
    net.crash('b')
    net.partition(new Map([['a', 0], ['c', 1]]))
    const results = await Promise.all(['b', 'c'].map(async to => {
      const { signal } = clockTimeout(clock, 100, 'probe')
      const r = a.request(to, { type: 'ping', updates: [] }, signal).then(() => 'answered', () => 'timed out')
      await clock.run(clock.now() + 200)
      return await r
    }))
    assert.deepEqual(results, ['timed out', 'timed out'])
    assert.deepEqual(net.dropped, { loss: 0, crashed: 1, partition: 1 })
  })

  it('should exchange views both ways and count them as view frames', async () => {
    const clock = new VirtualClock()
    const net = new SimNetwork({ clock, random: Math.random, latencyMs: [1, 2], loss: 0 })
    const a = net.attach('a')
    echo(net.attach('b'))
    const entries: ViewEntry[] = [{ announcement: announcement(1), state: 'alive' }]
    const theirs = a.exchangeViews('b', entries, new AbortController().signal)
    await clock.run(10)
    assert.deepEqual(await theirs, entries)
    assert.equal(net.traffic('a').sentViewMsgs, 1)
    assert.equal(net.traffic('b').sentViewMsgs, 1)
  })
})

describe('simulator: byte estimate', () => {
  const sizes = new SizeEstimator()
  const json = (value: unknown): number => JSON.stringify(value).length + FRAME_PREFIX_BYTES
  const alive = { type: 'alive' as const, announcement: announcement(2) }
  const suspect = { type: 'suspect' as const, peer_id: simPeerId(3), incarnation: 1, seq: 2, from: simPeerId(4) }
  const dead = { type: 'dead' as const, peer_id: simPeerId(5), incarnation: 1, seq: 2, from: simPeerId(4), reason: 'no answer within 250 ms; no indirect answer' }
  const messages: Array<SwimRequest | SwimReply> = [
    { type: 'ping', updates: [] },
    { type: 'ping', seen: { incarnation: 1_700_000_000_000, seq: 12, state: 'suspect' }, updates: [alive, suspect, dead] },
    { type: 'ping-req', target: simPeerId(6), updates: [dead] },
    { type: 'gossip', updates: [alive, alive] },
    { type: 'ack', seen: { incarnation: 1, seq: 1, state: 'alive' }, self: announcement(7), updates: [suspect] },
    { type: 'nack', updates: [] }
  ]
  for (const message of messages) {
    it(`should match the JSON length of a ${message.type} with ${message.updates.length} update(s)`, () => {
      assert.equal(sizes.message(message), json(message))
    })
  }

  it('should match the JSON length of a view frame', () => {
    const entries: ViewEntry[] = [{ announcement: announcement(1), state: 'alive' }, { announcement: announcement(2), state: 'suspect' }, { announcement: announcement(3), state: 'dead' }]
    assert.equal(sizes.view(entries), json({ entries }))
    assert.equal(sizes.view([]), json({ entries: [] }))
  })
})

describe('simulator: report helpers', () => {
  it('should give the 95 % Poisson upper bound (3.0 for no events)', () => {
    assert.ok(Math.abs(poissonUpper95(0) - 3.0) < 0.05)
    assert.ok(Math.abs(poissonUpper95(10) - 17.0) < 0.2)
  })

  it('should replace the section between the markers and append it when there are none', () => {
    const section = `${START_MARKER}\nnew\n${END_MARKER}`
    assert.equal(spliceSection(`# B\n\n${START_MARKER}\nold\n${END_MARKER}\n\ntail\n`, section), `# B\n\n${section}\n\ntail\n`)
    assert.equal(spliceSection('# B\n\ntext\n', section), `# B\n\ntext\n\n${section}\n`)
  })

  it('should fail the CI shape check when msgs per peer per second at N = 100 exceed 2 × N = 10, and name the figures', () => {
    const row = (n: number, msgs: number): SimRow => ({ n, loss: 0.01, msgs_per_peer_per_s: msgs }) as unknown as SimRow
    assert.equal(checkShape([row(10, 4), row(100, 8)]).ok, true)
    const failed = checkShape([row(10, 4), row(100, 8.1)])
    assert.equal(failed.ok, false)
    assert.match(failed.message, /N = 100 8\.1 vs N = 10 4/)
    assert.equal(checkShape([row(10, 4)]).ok, false)
  })
})
