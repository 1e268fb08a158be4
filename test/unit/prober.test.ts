import assert from 'node:assert/strict'
import { createProber, type ProbeResult, type ProbeTargets } from '../../src/membership/prober.js'
import { mulberry32 } from '../../src/util/prng.js'
import { ManualClock } from '../helpers/manual-clock.js'
import { ScriptedTransport, type Behaviour } from '../helpers/scripted-transport.js'

const TIMING = { probeIntervalMs: 100, probeTimeoutMs: 50, indirectChecks: 3, reconnectIntervalMs: 300, pingTimeoutMs: 200 }
const ACK: Behaviour = { answer: { type: 'ack', updates: [] } }
const NACK: Behaviour = { answer: { type: 'nack', updates: [] } }


/** A prober on `transport` with fixed targets; `onResult` collects every verdict. */
function proberFor (clock: ManualClock, transport: ScriptedTransport, targets: ProbeTargets, options: { slackMs?: number, onResult?: (target: string, result: ProbeResult) => void, seed?: number, rttSampleIntervalMs?: number } = {}): ReturnType<typeof createProber> {
  return createProber({
    clock,
    transport,
    timing: options.rttSampleIntervalMs != null ? { ...TIMING, rttSampleIntervalMs: options.rttSampleIntervalMs } : TIMING,
    random: mulberry32(options.seed ?? 5),
    targets: () => targets,
    ping: () => ({ type: 'ping', updates: [] }),
    pingReq: target => ({ type: 'ping-req', target, updates: [] }),
    slackMs: () => options.slackMs ?? 0,
    onReply: () => {},
    onResult: options.onResult ?? (() => {})
  })
}

interface Row {
  name: string
  /** How the target answers a direct ping. */
  direct: Behaviour
  /** How each relay answers the ping-req (relays r1, r2, r3, r4). */
  relays?: Behaviour[]
  /** The target is dead (a reconnect probe) instead of alive. */
  dead?: boolean
  /** Extra slack from local health (ms). */
  slackMs?: number
  /** The target is not connected: the probe dials it first (taking this long, maybe failing). */
  dial?: { afterMs: number, fail?: string }
  /** A lost connection: ask the relays only. */
  mode?: 'relays'
  /** We hold no connection to any relay (asking one would cost a dial). */
  unconnectedRelays?: boolean
  expect: { ok: boolean, via?: 'direct' | 'indirect', reason?: RegExp, pingReqs: number, pings?: number }
}

/** Probes `target` once (probeNow) and returns the result and the ping-reqs sent. */
async function probeOnce (row: Row): Promise<{ result: ProbeResult | undefined, pingReqs: string[], pings: number }> {
  const clock = new ManualClock()
  const transport = new ScriptedTransport(clock)
  const relays = (row.relays ?? []).map((_, i) => `r${i + 1}`)
  transport.script('target', message => message.type === 'ping' ? row.direct : 'silent')
  relays.forEach((relay, i) => { transport.script(relay, row.relays?.[i] ?? 'silent') })
  if (row.dial != null) transport.disconnect('target', row.dial)
  if (row.unconnectedRelays === true) for (const relay of relays) transport.disconnect(relay)
  // An empty rotation: only the probe under test runs.
  const targets: ProbeTargets = row.dead === true
    ? { pool: [], dead: ['target'], relays }
    : { pool: [], dead: [], relays: ['target', ...relays] }
  let result: ProbeResult | undefined
  const prober = proberFor(clock, transport, targets, { seed: 3, slackMs: row.slackMs, onResult: (target, r) => { if (target === 'target') result = r } })
  prober.start()
  if (row.dead === true) {
    await clock.advance(TIMING.probeIntervalMs + TIMING.pingTimeoutMs + 10)
  } else {
    prober.probeNow('target', row.mode)
    await clock.advance(TIMING.pingTimeoutMs + TIMING.probeTimeoutMs * 3 + TIMING.pingTimeoutMs + (row.slackMs ?? 0) * 3 + 10)
  }
  prober.stop()
  return { result, pingReqs: transport.ofType('ping-req').map(s => s.to), pings: transport.ofType('ping').length }
}

describe('prober (failure detector)', () => {
  const rows: Row[] = [
    { name: 'count a direct ack as alive without asking anyone else', direct: ACK, relays: [ACK, ACK, ACK], expect: { ok: true, via: 'direct', pingReqs: 0 } },
    { name: 'ask k = 3 relays when the direct probe times out, and take one relayed ack', direct: 'silent', relays: [NACK, ACK, 'silent'], expect: { ok: true, via: 'indirect', pingReqs: 3 } },
    { name: 'ask only k = 3 of 4 possible relays', direct: 'silent', relays: [NACK, NACK, NACK, NACK], expect: { ok: false, reason: /no answer within 50 ms; no indirect answer/, pingReqs: 3 } },
    { name: 'fail when every relay nacks or stays silent', direct: 'silent', relays: [NACK, 'silent', NACK], expect: { ok: false, reason: /no indirect answer/, pingReqs: 3 } },
    { name: 'try relays after a direct failure (a refused dial from here is not proof)', direct: { fail: 'connection refused' }, relays: [ACK], expect: { ok: true, via: 'indirect', pingReqs: 1 } },
    { name: 'name the direct error when nobody answers', direct: { fail: 'connection refused' }, relays: [NACK], expect: { ok: false, reason: /probe failed: connection refused/, pingReqs: 1 } },
    { name: 'fail at once with nobody to relay through', direct: 'silent', relays: [], expect: { ok: false, reason: /no answer within 50 ms/, pingReqs: 0 } },
    { name: 'count a late answer as a timeout', direct: { answer: { type: 'ack', updates: [] }, afterMs: 60 }, relays: [NACK], expect: { ok: false, pingReqs: 1 } },
    { name: 'take the same late answer while local health stretches the timeout (Lifeguard)', direct: { answer: { type: 'ack', updates: [] }, afterMs: 60 }, relays: [NACK], slackMs: 20, expect: { ok: true, via: 'direct', pingReqs: 0 } },
    { name: 'probe a dead member directly only (no relays for a reconnect probe)', direct: 'silent', relays: [ACK, ACK], dead: true, expect: { ok: false, pingReqs: 0 } },
    { name: 'see a dead member that answers again', direct: ACK, relays: [ACK], dead: true, expect: { ok: true, via: 'direct', pingReqs: 0 } },
    { name: 'not count a slow dial against the probe timeout (the dial has its own bound)', direct: ACK, relays: [NACK], dial: { afterMs: 120 }, expect: { ok: true, via: 'direct', pingReqs: 0 } },
    { name: 'ask relays when the dial fails', direct: ACK, relays: [ACK], dial: { afterMs: 5, fail: 'connection refused' }, expect: { ok: true, via: 'indirect', reason: /cannot connect/, pingReqs: 1 } },
    { name: 'name a refused dial when no relay answers either', direct: ACK, relays: [NACK], dial: { afterMs: 5, fail: 'connection refused' }, expect: { ok: false, reason: /cannot connect: connection refused; no indirect answer/, pingReqs: 1 } },
    { name: 'ask only relays for a peer whose connection just closed', direct: ACK, relays: [ACK, NACK], mode: 'relays', expect: { ok: true, via: 'indirect', pingReqs: 2, pings: 0 } },
    { name: 'suspect a peer whose connection closed when no relay reaches it', direct: ACK, relays: [NACK, NACK], mode: 'relays', expect: { ok: false, reason: /connection closed; no indirect answer/, pingReqs: 2, pings: 0 } },
    { name: 'ping a peer whose connection closed directly when there is no one to ask', direct: ACK, relays: [], mode: 'relays', expect: { ok: true, via: 'direct', pingReqs: 0, pings: 1 } },
    { name: 'ping a peer whose connection closed directly when no relay is connected, instead of suspecting it at once', direct: ACK, relays: [ACK, ACK], mode: 'relays', unconnectedRelays: true, expect: { ok: true, via: 'direct', pingReqs: 0, pings: 1 } }
  ]
  for (const row of rows) {
    it(`should ${row.name}`, async () => {
      const { result, pingReqs, pings } = await probeOnce(row)
      if (row.expect.pings != null) assert.equal(pings, row.expect.pings, 'direct pings')
      assert.ok(result != null, 'a result was reported')
      assert.equal(result.ok, row.expect.ok, JSON.stringify(result))
      if (result.ok) assert.equal(result.via, row.expect.via)
      else if (row.expect.reason != null) assert.match(result.reason, row.expect.reason)
      assert.equal(pingReqs.length, row.expect.pingReqs, `ping-reqs to ${pingReqs.join(', ')}`)
      assert.ok(!pingReqs.includes('target'), 'the target itself is never a relay')
      assert.equal(new Set(pingReqs).size, pingReqs.length, 'distinct relays')
    })
  }

  it('should probe one connected member per period, each once per round, and no one it holds no connection to', async () => {
    const clock = new ManualClock()
    const transport = new ScriptedTransport(clock)
    transport.disconnect('far')
    const prober = proberFor(clock, transport, { pool: ['a', 'b', 'c', 'd', 'far'], dead: [], relays: ['a', 'b', 'c', 'd', 'far'] })
    prober.start()
    // The first period comes within one interval (a random phase), then one every interval: 12 in all.
    await clock.advance(TIMING.probeIntervalMs * 12 - 1)
    prober.stop()
    const pings = transport.ofType('ping').map(s => s.to)
    assert.equal(pings.length, 12, 'one probe per period')
    for (let round = 0; round < 3; round++) {
      assert.deepEqual(pings.slice(round * 4, round * 4 + 4).sort(), ['a', 'b', 'c', 'd'], `round ${round}: ${pings.join(' ')}`)
    }
    assert.deepEqual(transport.connects, [], 'no dial for the rotation')
  })

  it('should probe no one while it holds no connection at all', async () => {
    const clock = new ManualClock()
    const transport = new ScriptedTransport(clock)
    for (const p of ['a', 'b']) transport.disconnect(p)
    const prober = proberFor(clock, transport, { pool: ['a', 'b'], dead: [], relays: ['a', 'b'] })
    prober.start()
    await clock.advance(TIMING.probeIntervalMs * 5)
    prober.stop()
    assert.deepEqual(transport.sent, [])
  })

  it('should back off reconnect probes of a dead member to a few intervals', async () => {
    const clock = new ManualClock()
    const transport = new ScriptedTransport(clock)
    transport.disconnect('dead', { afterMs: 1, fail: 'connection refused' })
    const prober = proberFor(clock, transport, { pool: [], dead: ['dead'], relays: [] })
    prober.start()
    await clock.advance(TIMING.reconnectIntervalMs * 12)
    prober.stop()
    const dials = transport.connects.length
    // Waits of 1, 2, 3, 3, 3… intervals after the first: probes at about 0, 1, 3, 6, 9, 12 → 5 or 6
    // (the first period's phase is random). Without the back-off it would be 12.
    assert.ok(dials >= 5 && dials <= 6, `${dials} reconnect dials in 12 intervals`)
  })

  it('should follow an answered probe with a round-trip echo at most once per rttSampleIntervalMs per member (every time without one)', async () => {
    const run = async (rttSampleIntervalMs: number | undefined): Promise<{ pings: string[], echoes: string[] }> => {
      const clock = new ManualClock()
      const transport = new ScriptedTransport(clock)
      const prober = proberFor(clock, transport, { pool: ['a', 'b'], dead: [], relays: ['a', 'b'] }, { rttSampleIntervalMs })
      prober.start()
      // 40 periods: each of the two members is probed 20 times, once every 2 intervals (200 ms).
      await clock.advance(TIMING.probeIntervalMs * 40 - 1)
      prober.stop()
      return { pings: transport.ofType('ping').map(s => s.to), echoes: transport.ofType('gossip').map(s => s.to) }
    }
    const every = await run(undefined)
    assert.equal(every.pings.length, 40)
    assert.deepEqual(every.echoes, every.pings, 'no interval: an echo after every answered probe')
    // 1 s between echoes of a member probed every 200 ms: the 1st, 6th, 11th and 16th probe of each.
    const limited = await run(1_000)
    assert.equal(limited.pings.length, 40)
    for (const member of ['a', 'b']) {
      assert.equal(limited.echoes.filter(to => to === member).length, 4, `echoes to ${member}: ${limited.echoes.join(' ')}`)
    }
  })
})
