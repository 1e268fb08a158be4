import assert from 'node:assert/strict'
import { runHttpFuzz, type FuzzReport } from '../../scripts/http-fuzz/run.js'
import { fuzzSuite } from '../helpers/fuzz.js'
import { startSyntheticPeer, type SyntheticPeer } from '../helpers/synthetic-peer.js'

// The HTTP fuzz suite (issue 17), small: random and mutated requests against every route of a
// running peer (scripts/http-fuzz/: the cases, the documented contract they are judged by, the
// runner). Every answer arrives within a bound, with a documented status in the route's own
// format; the peer still serves a normal completion afterwards, and its memory stays bounded.
// The large run (10,000 cases) is `npm run bench:fuzz`. A failure prints fast-check's seed and
// the shrunk case; set HAROMBE_FUZZ_SEED to replay a run.

const RUNS = 500
const TOKEN = 'fuzz-token'
/** Fastify's default, which the peer keeps. */
const BODY_LIMIT = 4 * 1024 * 1024
/** This process holds the peer, the client and fast-check's garbage: a leak per request would pass it within a few hundred cases of 4 MiB bodies and 8k-token streams. */
const MAX_RSS_GROWTH_MB = 150

describe('HTTP fuzz: every route of a running peer', function () {
  fuzzSuite(this)
  let peer: SyntheticPeer
  before(async () => { peer = await startSyntheticPeer({}, { token: TOKEN }) })
  after(async () => { await peer?.stop() })

  it(`should answer ${RUNS} random requests within the bound, in the documented statuses and formats, and keep serving`, async () => {
    const seed = process.env.HAROMBE_FUZZ_SEED != null ? Number(process.env.HAROMBE_FUZZ_SEED) : undefined
    const report: FuzzReport = await runHttpFuzz({
      api: peer.api,
      token: TOKEN,
      model: 'synthetic',
      bodyLimit: BODY_LIMIT,
      numRuns: RUNS,
      ...(seed != null ? { seed } : {}),
      healthEvery: 50,
      rssMb: () => process.memoryUsage().rss / 2 ** 20,
      stopOnProblem: true
    })
    assert.deepEqual([report.cases, report.hangs, report.dropped, report.violations, report.health.failed], [RUNS, 0, 0, 0, 0])
    // A run that never reached the routes (all 401, all 404) would prove little.
    for (const status of ['200', '400', '401', '404']) assert.ok((report.statuses[status] ?? 0) > 0, `no ${status} in ${JSON.stringify(report.statuses)}`)
    const growth = report.rssMb.after - report.rssMb.before
    assert.ok(growth < MAX_RSS_GROWTH_MB, `RSS grew ${growth.toFixed(0)} MB (${report.rssMb.before.toFixed(0)} → ${report.rssMb.after.toFixed(0)})`)
  })
})
