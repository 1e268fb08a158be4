// Before and after issue 15 (a mesh hop that costs what a proxy costs): `bench/results/before-15/`
// holds hop, routed, startup and rtt from a run of the same benchmark scripts at the commit before
// the issue's work; the current result files are the run after. Each cell holds its own run's
// side-by-side comparison (mesh against proxy, estimate against a TCP echo), so the two runs'
// different machine load cancels out of the ratios.
import { n0, n1, n2, signed, table } from './markdown.js'
import type { ResultFile } from './results.js'

/** `target` and `met` (judged on the after run) where the issue set a target for the row. */
type Row = [what: string, before: string, after: string, target?: string, met?: boolean]

export function issue15Section (after: Map<string, ResultFile>, before: Map<string, ResultFile>): string {
  const rows: Row[] = [
    ...routedRows(before.get('routed.json'), after.get('routed.json')),
    ...hopRows(before.get('hop.json'), after.get('hop.json')),
    ...rttRows(before.get('rtt.json'), after.get('rtt.json')),
    ...startupRows(before.get('startup.json'), after.get('startup.json'))
  ]
  if (rows.length === 0) return ''
  const files = ['routed', 'hop', 'rtt', 'startup'].map(part => ({ part, b: before.get(`${part}.json`), a: after.get(`${part}.json`) }))
  // The sentence "same machine" only when the result files say so.
  const machines = new Set(files.flatMap(({ b, a }) => [b, a]).filter((r): r is ResultFile => r != null).map(r => `${r.machine.cpuModel} × ${r.machine.cores}`))
  const sameMachine = machines.size <= 1
  const runs = files.map(({ part, b, a }) => {
    const show = (r: ResultFile | undefined): string => r == null ? '–' : `${ref(r)}${sameMachine ? '' : ` (${r.machine.cpuModel}, load ${r.machine.loadAvgStart})`}`
    return `${part}: ${show(b)} → ${show(a)}`
  })
  return [
    '## Before and after issue 15 (the cost of a mesh hop)',
    '',
    `Same benchmark scripts, ${sameMachine ? 'same machine' : `**not all on the same machine** (${[...machines].join('; ')}: the CPU and load of each run are in the line below the table)`}. "Before" is the commit before the issue\'s work (\`bench/results/before-15/\`), "after" the current result files. Each cell compares within its own run (mesh against the plain proxy, the estimate against a plain TCP echo), so the ratios are what to read across runs; absolute figures move with the machine and its load.`,
    '',
    table(['what', 'before', 'after', 'issue 15 target', 'after: met?'], rows.map(([what, b, a, target, met]) => [what, b, a, target ?? '', met == null ? '' : met ? 'met' : '**missed**'])),
    '',
    `<sub>Runs: ${runs.join(' · ')}</sub>`,
    ''
  ].join('\n')
}

const ref = (r: ResultFile): string => `\`${r.run.gitCommit.slice(0, 8)}\` ${r.run.date.slice(0, 16).replace('T', ' ')}`

function routedRows (b: ResultFile | undefined, a: ResultFile | undefined): Row[] {
  if (b == null || a == null) return []
  const at = (r: ResultFile, target: string, c: number): any => (r.data as any).rows.find((x: any) => x.target === target && x.concurrency === c)
  const rows: Row[] = []
  for (const c of [1, 8, 64]) {
    const cell = (r: ResultFile): string => {
      const m = at(r, 'mesh', c)
      const p = at(r, 'proxy', c)
      return m == null || p == null ? '–' : `${n0(m.perSecond)} vs ${n0(p.perSecond)} req/s (**× ${n2(m.perSecond / p.perSecond)}**)`
    }
    const ratio = (r: ResultFile): number | undefined => {
      const m = at(r, 'mesh', c)
      const p = at(r, 'proxy', c)
      return m == null || p == null ? undefined : m.perSecond / p.perSecond
    }
    const judged = c === 64 ? ratio(a) : undefined
    const what = `routed, ${c} client${c === 1 ? '' : 's'}: mesh vs plain proxy`
    rows.push(c === 64 ? [what, cell(b), cell(a), '≥ × 0.8', judged != null && judged >= 0.8] : [what, cell(b), cell(a)])
  }
  const added = (r: ResultFile): string => {
    const m = at(r, 'mesh', 1)
    const p = at(r, 'proxy', 1)
    return m == null || p == null ? '–' : `${signed(m.latencyMs.p50 - p.latencyMs.p50)} ms (p99 ${signed(m.latencyMs.p99 - p.latencyMs.p99)})`
  }
  const addedP50 = (r: ResultFile): number | undefined => {
    const m = at(r, 'mesh', 1)
    const p = at(r, 'proxy', 1)
    return m == null || p == null ? undefined : m.latencyMs.p50 - p.latencyMs.p50
  }
  const afterAdded = addedP50(a)
  rows.push(['routed, 1 client: mesh p50 − proxy p50', added(b), added(a), '≤ 1 ms', afterAdded != null && afterAdded <= 1])
  const cpu = (r: ResultFile): string => {
    const m = at(r, 'mesh', 64)
    return m?.cpuMsPerRequest == null ? '–' : `${n2(m.cpuMsPerRequest.entry)} · ${n2(m.cpuMsPerRequest.serving)}`
  }
  rows.push(['CPU ms per request at 64 clients: entry peer · serving peers', cpu(b), cpu(a)])
  return rows
}

function hopRows (b: ResultFile | undefined, a: ResultFile | undefined): Row[] {
  if (b == null || a == null) return []
  const cell = (r: ResultFile): string => {
    const c = (r.data as any).comparisons?.['hop vs peer (the mesh hop alone)']
    return c == null ? '–' : `${signed(c.ttftP50Ms)} / ${signed(c.ttftP99Ms)} ms`
  }
  const c = (a.data as any).comparisons?.['hop vs peer (the mesh hop alone)']
  return [['one mesh hop, added time to first token p50 / p99 (hop vs peer)', cell(b), cell(a), '≤ 1 ms p50, ≤ 3 ms p99', c != null && c.ttftP50Ms <= 1 && c.ttftP99Ms <= 3]]
}

function rttRows (b: ResultFile | undefined, a: ResultFile | undefined): Row[] {
  if (b == null || a == null) return []
  const worst = (r: ResultFile): number => Math.max(...Object.values((r.data as any).meshRttMs ?? {}).map(v => Number(v ?? Infinity)))
  const estimate = (r: ResultFile): string => `${n2(worst(r))} ms (TCP echo ${n2((r.data as any).tcpEchoMs?.p50)} ms)`
  const p50 = (r: ResultFile, key: string): number => Number((r.data as any)[key]?.p50 ?? Infinity)
  const stream = (r: ResultFile, key: string): string => {
    const s = (r.data as any)[key]
    return s == null ? '–' : `${n2(s.p50)} / ${n2(s.p99)} ms`
  }
  return [
    ['idle loopback RTT estimate, worst of two peers (plain TCP echo in the same run)', estimate(b), estimate(a), '≤ 0.5 ms', worst(a) <= 0.5],
    ['new stream p50 / p99, optimistic negotiation (as the stream pool opens them)', stream(b, 'newStreamOptimisticMs'), stream(a, 'newStreamOptimisticMs'), 'p50 ≤ 1 ms', p50(a, 'newStreamOptimisticMs') <= 1],
    ['new stream p50 / p99, full negotiation', stream(b, 'newStreamFullNegotiationMs'), stream(a, 'newStreamFullNegotiationMs')]
  ]
}

function startupRows (b: ResultFile | undefined, a: ResultFile | undefined): Row[] {
  if (b == null || a == null) return []
  const dist = (r: ResultFile): any => (r.data as any).dist
  const rss = Number(dist(a)?.idleRssMb?.p50 ?? Infinity)
  const start = Number(dist(a)?.startToReadyMs?.p50 ?? Infinity)
  return [
    ['lone idle peer RSS, median (dist)', `${n1(dist(b)?.idleRssMb?.p50)} MB`, `${n1(dist(a)?.idleRssMb?.p50)} MB`, '≤ 70 MB', rss <= 70],
    ['cold start to ready, median (dist)', `${n0(dist(b)?.startToReadyMs?.p50)} ms`, `${n0(dist(a)?.startToReadyMs?.p50)} ms`, '≤ 1 s', start <= 1000]
  ]
}
