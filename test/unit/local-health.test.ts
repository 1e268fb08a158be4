import assert from 'node:assert/strict'
import { LAG_HALF_LIFE_MS, LAG_SLACK_FACTOR, LocalHealth, MAX_SLACK_MS } from '../../src/membership/local-health.js'

describe('LocalHealth (own timer lag stretches the failure detector)', () => {
  const TICK = 100
  /** Feeds tick times (ms) and returns the slack after the last one. */
  const slackAfter = (ticks: number[]): number => {
    const health = new LocalHealth(TICK)
    for (const at of ticks) health.tick(at)
    return health.slackMs
  }
  const cases: Array<{ why: string, ticks: number[], expected: number }> = [
    { why: 'no tick yet', ticks: [], expected: 0 },
    { why: 'one tick: nothing to compare', ticks: [1_000], expected: 0 },
    { why: 'timers on time', ticks: [0, 100, 200, 300], expected: 0 },
    { why: 'a few ms of jitter', ticks: [0, 103, 205], expected: Math.round(LAG_SLACK_FACTOR * 3 * Math.pow(0.5, 102 / LAG_HALF_LIFE_MS)) },
    { why: 'one tick 400 ms late', ticks: [0, 500], expected: LAG_SLACK_FACTOR * 400 },
    { why: 'the worst recent lag counts, not the last', ticks: [0, 500, 600], expected: Math.round(LAG_SLACK_FACTOR * 400 * Math.pow(0.5, 100 / LAG_HALF_LIFE_MS)) },
    { why: 'a wedged process is capped', ticks: [0, 60_000], expected: MAX_SLACK_MS }
  ]
  for (const c of cases) {
    it(`should give ${c.expected} ms of slack for ${c.why}`, () => {
      assert.equal(slackAfter(c.ticks), c.expected)
    })
  }

  it('should halve the lag over the half-life once timers are on time again', () => {
    const health = new LocalHealth(TICK)
    health.tick(0)
    health.tick(1_100)
    assert.equal(health.lag, 1_000)
    let at = 1_100
    while (at < 1_100 + LAG_HALF_LIFE_MS) {
      at += TICK
      health.tick(at)
    }
    assert.ok(Math.abs(health.lag - 500) < 1, `lag ${health.lag} after one half-life`)
  })
})
