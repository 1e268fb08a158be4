import assert from 'node:assert/strict'
import { parseSoakArgs } from '../../scripts/soak/options.js'
import { MIX, pickKind } from '../../scripts/soak/requests.js'
import { foldBounded, parseMetrics, sampleOf, type BoundedMax, type Sample } from '../../scripts/soak/sampler.js'
import { plan } from '../../scripts/soak/schedule.js'
import { soakHighlight, soakSection, soakSvg, sparkline } from '../../scripts/soak/report.js'
import type { ResultFile } from '../../scripts/bench/results.js'
import { classify, growthPct, heapPoints, levels, peerTrend, slopePerHour } from '../../scripts/soak/verdict.js'

// The soak's pure parts without peers: its options, request mix, schedule, the /metrics parsing
// and the targets' arithmetic. The soak itself runs in test/e2e/soak-quick.test.ts.

const METRICS = `# HELP process_resident_memory_bytes Resident memory size in bytes.
# TYPE process_resident_memory_bytes gauge
process_resident_memory_bytes 104857600
process_open_fds 29
nodejs_heap_size_used_bytes 20971520
nodejs_eventloop_lag_p99_seconds 0.0123
harombe_mesh_connections 3
harombe_mesh_streams 14
harombe_heap_used_after_gc_bytes 15728640
harombe_major_gcs_observed 2
harombe_bounded_size{structure="routing.prefix-blocks"} 10
harombe_bounded_size{structure="sharing.downloads"} 5
harombe_bounded_limit{structure="routing.prefix-blocks"} 100
harombe_bounded_limit{structure="sharing.downloads"} 4
`

const sample = (t: number, over: Partial<Sample> = {}): Sample => ({
  t, life: 1, rssMb: 100, heapAfterGcMb: 10, majorGcs: t, heapUsedMb: 20, fds: 30, connections: 3, streams: 10, eventLoopP99Ms: 5, overBound: [], boundedMaxFill: 0, boundedCount: 0, ...over
})

describe('soak', () => {
  describe('options', () => {
    it('defaults to 10 minutes, 12 clients, samples every 10 s and a 10-minute warm-up', () => {
      const o = parseSoakArgs([])
      assert.ok(!('help' in o) && !('error' in o))
      assert.equal(o.durationS, 600)
      assert.equal(o.clients, 12)
      assert.equal(o.sampleS, 10)
      assert.equal(o.warmupS, 200, 'a third of a 10-minute run (min(10 min, minutes / 3))')
    })
    it('a 60-minute run measures trends from minute 10', () => {
      const o = parseSoakArgs(['--minutes', '60'])
      assert.ok(!('help' in o) && !('error' in o))
      assert.equal(o.warmupS, 600)
    })
    it('--quick is 35 s of load with fewer clients', () => {
      const o = parseSoakArgs(['--quick'])
      assert.ok(!('help' in o) && !('error' in o))
      assert.equal(o.durationS, 35)
      assert.equal(o.clients, 4)
    })
    const bad: Array<[string[], RegExp]> = [
      [['--minutes', '0'], /--minutes/],
      [['--clients', '100'], /--clients/],
      [['--think', 'x'], /--think/],
      [['--nope'], /nope/]
    ]
    for (const [args, message] of bad) {
      it(`refuses ${args.join(' ')}`, () => {
        const o = parseSoakArgs(args)
        assert.ok('error' in o)
        assert.match(o.error, message)
      })
    }
    it('--help', () => { assert.deepEqual(parseSoakArgs(['--help']), { help: true }) })
  })

  describe('request mix', () => {
    it('draws each kind in proportion to its weight', () => {
      const counts = new Map<string, number>()
      const n = 10_000
      for (let i = 0; i < n; i++) {
        const k = pickKind(i / n)
        counts.set(k, (counts.get(k) ?? 0) + 1)
      }
      const total = MIX.reduce((s, m) => s + m.weight, 0)
      for (const m of MIX) assert.ok(Math.abs((counts.get(m.kind) ?? 0) - n * m.weight / total) <= 1, m.kind)
    })
    it('covers the three APIs, cancels and tool calls', () => {
      const kinds = MIX.map(m => m.kind)
      for (const k of ['openai-stream', 'openai-json', 'harombe-stream', 'harombe-json', 'ollama-stream', 'ollama-json', 'cancel-openai', 'cancel-ollama', 'tools-json', 'tools-stream']) assert.ok(kinds.includes(k as never), k)
    })
  })

  describe('schedule', () => {
    it('every minute a join at :05, a pull at :20, a leave at :35; a kill at :45 every other minute', () => {
      const p = plan(180, false)
      assert.deepEqual(p.filter(x => x.action === 'join').map(x => x.at), [5, 65, 125])
      assert.deepEqual(p.filter(x => x.action === 'pull').map(x => x.at), [20, 80, 140])
      assert.deepEqual(p.filter(x => x.action === 'leave').map(x => x.at), [35, 95, 155])
      assert.deepEqual(p.filter(x => x.action === 'kill').map(x => x.at), [45, 165])
      assert.deepEqual(p.map(x => x.at), [...p.map(x => x.at)].sort((a, b) => a - b))
    })
    it('nothing in the last 10 s of a full run', () => {
      assert.ok(plan(3600, false).every(x => x.at < 3590))
      assert.equal(plan(3600, false).filter(x => x.action === 'kill').length, 30)
    })
    it('quick: each action once, the leave after the join', () => {
      const p = plan(40, true)
      assert.deepEqual(p.map(x => x.action).sort(), ['join', 'kill', 'leave', 'pull'])
      assert.ok((p.find(x => x.action === 'join')?.at ?? 99) < (p.find(x => x.action === 'leave')?.at ?? 0))
    })
  })

  describe('metrics', () => {
    it('parses names, labels and values', () => {
      const m = parseMetrics(METRICS)
      assert.equal(m.get('process_open_fds')?.[0]?.value, 29)
      assert.equal(m.get('harombe_bounded_size')?.length, 2)
    })
    it('a sample: MB, ms, and the structures over their bound', () => {
      const s = sampleOf(METRICS, 10, 1)
      assert.equal(s.rssMb, 100)
      assert.equal(s.heapAfterGcMb, 15)
      assert.equal(s.heapUsedMb, 20)
      assert.equal(s.fds, 29)
      assert.equal(s.connections, 3)
      assert.equal(s.streams, 14)
      assert.equal(s.eventLoopP99Ms, 12.3)
      assert.deepEqual(s.overBound, [{ structure: 'sharing.downloads', size: 5, limit: 4 }])
      assert.equal(s.boundedMaxFill, 1.25)
    })
    it('no heap-after-GC reading before the first major collection', () => {
      const s = sampleOf(METRICS.replace('harombe_major_gcs_observed 2', 'harombe_major_gcs_observed 0'), 0, 1)
      assert.equal(s.heapAfterGcMb, null)
    })
    it('folds the largest size per structure', () => {
      const into: BoundedMax = {}
      foldBounded(into, 'a', METRICS)
      foldBounded(into, 'a', METRICS.replace('prefix-blocks"} 10', 'prefix-blocks"} 3'))
      assert.deepEqual(into.a?.['routing.prefix-blocks'], { maxSize: 10, limit: 100 })
    })
  })

  describe('report', () => {
    it('sparklines scale from the lowest to the highest reading and leave gaps blank', () => {
      assert.equal(sparkline([1, 2, 3, 4, 5, 6, 7, 8]), '▁▂▃▄▅▆▇█')
      assert.equal(sparkline([5, 5, 5]), '▄▄▄')
      assert.equal(sparkline([null, 1, 2]), ' ▁█')
      assert.equal(sparkline(Array.from({ length: 64 }, (_, i) => i), 8).length, 8)
    })
    const result = {
      part: 'soak',
      title: 'soak',
      machine: {} as any,
      run: { date: '2026-12-06T16:00:00Z', gitCommit: 'x', gitDirty: false, command: 'npm run soak', mode: 'full', durationSeconds: 130 },
      params: { durationS: 120, clients: 12, sampleS: 10, warmupS: 40, peers: 'p', upstream: 'u', workload: 'w', schedule: 's', loadAvg1_5_15Start: [1, 1, 1], loadAvg1_5_15End: [2, 2, 2], cliRuntime: 'dist' },
      data: {
        requests: { sent: 1234, byOutcome: { completed: 1000, cancelled: 230, cleanError: 4 }, failed: 0, killedOnPurpose: { total: 6, handedOver: 2, failedCleanly: 4, failedUnclean: 0 }, handedOverByEntryPeers: 2, byKind: { 'openai-stream': { completed: 10 } } },
        pulls: { ok: 2, failed: 0, errors: [] },
        events: [{ t: 45, action: 'kill -9', peer: 'serve-1' }],
        trends: { 'entry-a': peerTrend([sample(50), sample(60), sample(70)], 40) },
        series: { 'entry-a': [sample(0), sample(50), sample(100)], 'serve-1': [sample(0), sample(40), sample(60, { life: 2 }), sample(100, { life: 2 })] },
        bounded: { 'entry-a': { 'routing.prefix-blocks': { maxSize: 7, limit: 64 } } }
      },
      targets: [],
      notes: []
    } as unknown as ResultFile
    it('the section carries the counts, the per-peer rows, the bounds and the plot', () => {
      const md = soakSection(result, 'bench/soak.svg')
      assert.match(md, /\| 1,234 \| 1,000 \| 230 \| 0 \| 6: 2 \/ 4 \/ 0 \| 2 \| 2 \/ 0 \|/)
      assert.match(md, /\| entry-a \| 1 \| 100\.0 → 100\.0 \(\+0\.00 %\)/)
      assert.match(md, /\| serve-1 \| 2 \|/)
      assert.match(md, /`routing\.prefix-blocks` \| 7 \| 64 \| within/)
      assert.match(md, /!\[[^\]]+\]\(bench\/soak\.svg\)/)
    })
    it('a line for the report\'s summary', () => {
      assert.match(soakHighlight(result), /^Soak \(2\.0 min, 12 clients[^)]*\): 1,234 requests, 0 failed besides 6 killed on purpose \(2 handed over, 4 clean errors\); heap after GC after minute 0\.7, MB\/hour: entry-a 0\.00; RSS: entry-a \+0\.0 %\.$/)
    })
    it('the plot: six panels, a line per peer and life, the kill marked', () => {
      const svg = soakSvg(result, 'soak.json')
      // entry-a one life, serve-1 two lives: three lines in each of six panels.
      assert.equal(svg.match(/<polyline /g)?.length, 18)
      assert.equal(svg.match(/<line class="kill" /g)?.length, 6)
      assert.ok(svg.startsWith('<svg ') && svg.trim().endsWith('</svg>'))
    })
  })

  describe('targets', () => {
    const slopes: Array<[string, Array<{ t: number, v: number }>, number | null]> = [
      ['flat', [{ t: 0, v: 5 }, { t: 3600, v: 5 }], 0],
      ['1 MB over an hour', [{ t: 0, v: 5 }, { t: 1800, v: 5.5 }, { t: 3600, v: 6 }], 1],
      ['2 MB over 30 min = 4 MB/h', [{ t: 600, v: 10 }, { t: 2400, v: 12 }], 4],
      ['one point', [{ t: 0, v: 5 }], null],
      ['no time spread', [{ t: 5, v: 1 }, { t: 5, v: 2 }], null]
    ]
    for (const [name, points, want] of slopes) {
      it(`slope per hour: ${name}`, () => {
        const got = slopePerHour(points)
        if (want == null) assert.equal(got, null)
        else assert.ok(got != null && Math.abs(got - want) < 1e-9, `${got}`)
      })
    }
    it('levels are medians of the first and last three points, so one burst does not decide', () => {
      const pts = [100, 200, 100, 100, 100, 101, 300, 101].map((v, i) => ({ t: i, v }))
      assert.deepEqual(levels(pts), { start: 100, end: 101 })
      assert.equal(growthPct(pts), 1)
    })
    it('heap readings: one per new major collection, after the warm-up', () => {
      const samples = [sample(0, { majorGcs: 1 }), sample(10, { majorGcs: 1 }), sample(20, { majorGcs: 2 }), sample(30, { majorGcs: 2 }), sample(40, { majorGcs: 3, heapAfterGcMb: null })]
      assert.deepEqual(heapPoints(samples, 0).map(p => p.t), [0, 20])
      assert.deepEqual(heapPoints(samples, 15).map(p => p.t), [20])
    })
    it('a peer trend: RSS growth, descriptors, connections', () => {
      const samples = Array.from({ length: 10 }, (_, i) => sample(i * 10, { rssMb: 100 + i, fds: 30 + (i > 6 ? 1 : 0) }))
      const tr = peerTrend(samples, 0)
      assert.deepEqual(tr.rss, { startMb: 101, endMb: 108, growthPct: 6.93 })
      assert.deepEqual(tr.fds, { start: 30, end: 31 })
      assert.equal(tr.heapAfterGcMbPerHour, 0)
      assert.equal(tr.heapReadings, 10)
    })
    it('heap growth over the second half tells a warm-up tail from a leak', () => {
      // One reading a minute from minute 10 to 60: a warm-up that levels off at minute 35, and a steady leak.
      const minutes = Array.from({ length: 51 }, (_, i) => 10 + i)
      const warm = minutes.map((m, i) => sample(m * 60, { majorGcs: i + 1, heapAfterGcMb: 34 + Math.min(m, 35) * 0.05 }))
      const leak = minutes.map((m, i) => sample(m * 60, { majorGcs: i + 1, heapAfterGcMb: 34 + m * 0.05 }))
      const w = peerTrend(warm, 600)
      const l = peerTrend(leak, 600)
      assert.ok((w.heapAfterGcMbPerHour ?? 0) > 1, `warm-up over the whole window: ${w.heapAfterGcMbPerHour}`)
      assert.equal(w.heapAfterGcMbPerHourLastHalf, 0)
      assert.equal(l.heapAfterGcMbPerHour, 3)
      assert.equal(l.heapAfterGcMbPerHourLastHalf, 3)
    })
    it('classifies requests cut by a kill apart from failures', () => {
      const kills = [{ t: 1000, peer: 'serve-1' }]
      const r = (startedAt: number, endedAt: number, node: string | null, outcome: any, kind = 'openai-stream'): any => ({ startedAt, endedAt, node, outcome, kind })
      const totals = classify([
        r(900, 1100, 'serve-1', 'completed'), // handed over
        r(900, 1100, 'serve-1', 'cleanError'), // failed cleanly
        r(900, 1100, 'serve-1', 'truncated'), // killed, but not cleanly: a failure
        r(900, 1100, null, 'cleanError'), // no peer had answered
        r(900, 1100, 'serve-2', 'cleanError'), // another peer's stream: a failure
        r(900, 1100, 'serve-2', 'cleanError', 'openai-json'), // a whole answer names its last peer: counted as cut
        r(0, 500, 'serve-1', 'cleanError'), // before the kill: a failure
        r(0, 500, 'serve-2', 'cancelled'), // cancelled on purpose: not a failure
        r(0, 500, 'serve-2', 'completed')
      ], kills)
      assert.equal(totals.sent, 9)
      assert.deepEqual(totals.killedOnPurpose, { total: 5, handedOver: 1, failedCleanly: 3, failedUnclean: 1 })
      assert.equal(totals.failed, 3)
      assert.equal(totals.byOutcome.cleanError, 5)
    })
  })
})
