import assert from 'node:assert/strict'
import { runScenario } from '../../scripts/sim/scenario.js'
import { checkShape, quickJobs, runSuite, type SimResultFile } from '../../scripts/sim/suite.js'

// `npm run sim -- --quick` in-process: the real SWIM code at N = 10 and 100 in virtual time.
describe('membership simulator (quick run)', function () {
  this.timeout(30_000)
  let result: SimResultFile

  before(async () => {
    result = await runSuite({ quick: true, parallel: false })
  })

  it('should keep messages per peer per second at N = 100 within 2 × of N = 10', () => {
    const shape = checkShape(result.rows)
    assert.ok(shape.ok, shape.message)
  })

  it('should see every join listed alive by every peer', () => {
    for (const row of result.rows) {
      assert.ok(row.joins > 0, `N = ${row.n}: no joins were simulated`)
      assert.equal(row.joins_unconverged, 0, `N = ${row.n}: ${row.joins_unconverged} of ${row.joins} joins never converged`)
    }
  })

  it('should see every crash held dead by every peer', () => {
    for (const row of result.rows) {
      assert.ok(row.crashes > 0, `N = ${row.n}: no crashes were simulated`)
      assert.equal(row.crashes_undetected, 0, `N = ${row.n}: ${row.crashes_undetected} of ${row.crashes} crashes never detected`)
      assert.equal(row.crashes_not_dead, 0, `N = ${row.n}: ${row.crashes_not_dead} crashes never held dead everywhere`)
    }
  })

  it('should count the messages the peers themselves count, and start the idle window with nothing queued', () => {
    for (const row of result.rows) {
      assert.equal(row.msgs_vs_swim_counts, 1, `N = ${row.n}: the network carried ${row.msgs_vs_swim_counts} × what Swim.counts.out says`)
      assert.equal(row.queued_updates_at_idle, 0, `N = ${row.n}: start-up updates still queued when the idle window opened`)
    }
  })

  it('should give the same figures for the same seed (virtual time, seeded randomness)', async () => {
    const config = quickJobs()[0]?.config
    assert.ok(config != null)
    const [a, b] = [await runScenario(config), await runScenario(config)]
    assert.deepEqual({ ...a, wallS: 0 }, { ...b, wallS: 0 })
  })
})
