import assert from 'node:assert/strict'
import { getEventListeners } from 'node:events'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createLocalCatalogue } from '../../src/sharing/catalogue.js'
import { signalDependants } from '../helpers/signal-dependants.js'

// A serving peer's catalogue rescans every 30 s for as long as it runs, and a caller may pass a
// long-lived signal too: no pass may leave anything on either (issue 25: with AbortSignal.any()
// every pass left a WeakRef on the catalogue's own signal, seen growing in serve-2's heap snapshots).

describe('sharing catalogue: rescans leave nothing on long-lived signals', () => {
  let dir: string
  beforeEach(async () => { dir = await mkdtemp(join(tmpdir(), 'catalogue-signals-')) })
  afterEach(async () => { await rm(dir, { recursive: true, force: true }) })

  it('50 rescans with a caller signal, while the catalogue runs, leave no dependant and no listener', async () => {
    const catalogue = createLocalCatalogue({ roots: [{ dir, kind: 'models-dir' }], rescanIntervalMs: 60_000 })
    const caller = new AbortController()
    catalogue.start()
    try {
      for (let i = 0; i < 50; i++) await catalogue.rescan(caller.signal)
      assert.equal(signalDependants(caller.signal), 0)
      assert.equal(getEventListeners(caller.signal, 'abort').length, 0)
    } finally {
      await catalogue.stop()
    }
  })

  it('its own rescan loop leaves no dependant on its lifetime signal', async () => {
    const catalogue = createLocalCatalogue({ roots: [{ dir, kind: 'models-dir' }], rescanIntervalMs: 1 })
    catalogue.start()
    try {
      await new Promise(resolve => setTimeout(resolve, 300))
      // The loop's signal is the catalogue's own: reach it the way the heap snapshot did.
      const own = (catalogue as unknown as { running?: AbortController }).running?.signal
      assert.ok(own != null)
      assert.equal(signalDependants(own), 0)
      assert.ok(getEventListeners(own, 'abort').length <= 1, 'at most the pass in flight')
    } finally {
      await catalogue.stop()
    }
  })
})
