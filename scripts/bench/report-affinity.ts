// Section 14 of BENCHMARKS.md and bench/affinity.svg: `bench:affinity` (issue 23), before and
// after. "Before" is `bench/results/before-23/affinity.json`, a run of the same harness on the
// code before the issue's work (today's routing, no prompt cache); "after" is the current
// `affinity.json`, every policy side by side. The route-decision microbenchmark's targets are
// shown beside them when `route-decision.json` exists. Every figure is read from those files.
import { acrossRunTargets, type AffinityData, type AffinityRun, type Figures, type Setup, type Workload } from './affinity-stats.js'
import { n0, n1, table } from './markdown.js'
import type { ResultFile, Target } from './results.js'

const WORKLOADS: Array<{ setup: Setup, workload: Workload, label: string }> = [
  { setup: '1 entry', workload: 'a', label: '(a) conversations, each with its own long system prompt' },
  { setup: '1 entry', workload: 'b', label: '(b) one-shots sharing one long system prompt' },
  { setup: '1 entry', workload: 'c', label: '(c) one-shots sharing nothing' },
  { setup: '1 entry', workload: 'd', label: '(d) one hot conversation plus background' },
  { setup: '2 entries', workload: 'a', label: '(a) conversations through 2 entry peers (each turn through the other one)' }
]

const s1 = (ms: number | undefined): string => ms == null || !Number.isFinite(ms) ? '–' : (ms / 1000).toFixed(2)
const pct = (v: number): string => Number.isFinite(v) ? `${Math.round(100 * v)} %` : '–'
const ref = (r: ResultFile): string => `\`${r.run.gitCommit.slice(0, 8)}\`${r.run.gitDirty ? ' + changes' : ''} ${r.run.date.slice(0, 16).replace('T', ' ')} UTC, ${r.run.mode} run, load ${r.machine.loadAvgStart} → ${r.machine.loadAvgEnd}`

interface Row { label: string, run: AffinityRun }

/** A quick run's sizes differ from a full run's: its figures are not put beside a full "before". */
const comparable = (after: ResultFile | undefined, before: ResultFile | undefined): ResultFile | undefined =>
  before != null && (after == null || after.run.mode === before.run.mode) ? before : undefined

/** The rows of one workload: the before run's, then the after run's policies. */
function rowsOf (setup: Setup, workload: Workload, after: ResultFile | undefined, before: ResultFile | undefined): Row[] {
  const out: Row[] = []
  for (const [tag, r] of [['before', comparable(after, before)], ['after', after]] as const) {
    if (r == null) continue
    const d = r.data as AffinityData
    for (const policy of d.policies) {
      const run = d.runs.find(x => x.setup === setup && x.workload === workload && x.policy === policy)
      if (run != null) out.push({ label: `${tag}: ${policy}`, run })
    }
  }
  return out
}

function cached (f: Figures): string {
  if (!f.cachedReported) return 'not reported'
  return `${pct(f.cachedShare)} (${pct(f.cachedShareAfterFirst)})`
}

function workloadTable (rows: Row[], workload: Workload): string {
  const conversation = workload === 'a' || workload === 'd'
  // Runs made before the harness kept each run's load have none: no empty column for them.
  const loads = rows.some(r => r.run.load != null)
  const head = ['run', ...(loads ? ['load avg'] : []), 'TTFT s, first turns p50 / p95', ...(conversation ? ['TTFT s, follow-ups p50 / p95'] : []), 'wall s', 'req/s', 'cached share (after each peer\'s first)', ...(workload === 'a' ? ['follow-ups on a warm peer'] : []), 'requests per peer', ...(workload === 'd' ? ['max in flight per peer', 'instants above 2 × mean + 1'] : []), 'failed']
  return table(head, rows.map(({ label, run: { figures: f, load } }) => [
    label,
    ...(loads ? [load == null ? '–' : `${load[0]} → ${load[1]}`] : []),
    `${s1(f.ttftFirstMs.p50)} / ${s1(f.ttftFirstMs.p95)}`,
    ...(conversation ? [`${s1(f.ttftFollowUpMs.p50)} / ${s1(f.ttftFollowUpMs.p95)}`] : []),
    n1(f.wallS),
    f.perSecond.toFixed(3),
    cached(f),
    ...(workload === 'a' ? [`${f.warmFollowUps.warm} / ${f.warmFollowUps.of}`] : []),
    Object.values(f.perPeer).join(' / '),
    ...(workload === 'd' ? [Object.values(f.maxInFlight).join(' / '), String(f.balance.violations)] : []),
    f.failed === 0 ? '0' : `${f.failed}: ${(f.firstError ?? '').replace(/\|/g, '\\|').slice(0, 80)}`
  ]))
}

/** A target's name without the policy it was judged on, so before and after rows line up. */
const key = (t: Target): string => t.what.replace(/, [^,]+$/, '')

function targetsTable (after: ResultFile | undefined, beforeRun: ResultFile | undefined, decision: ResultFile | undefined): string {
  const before = comparable(after, beforeRun)
  const keys = [...new Set([...(after?.targets ?? []), ...(before?.targets ?? [])].map(key))]
  const rows = keys.map(k => {
    const a = after?.targets.find(t => key(t) === k)
    const b = before?.targets.find(t => key(t) === k)
    const judged = a != null ? a.what.slice(k.length + 2) : ''
    return [k, (a ?? b)?.target ?? '', b?.measured ?? '–', a == null ? 'not measured' : `${a.measured}${judged !== '' ? ` (${judged})` : ''}`, a == null ? '–' : a.met ? 'met' : '**missed**']
  })
  if (after != null && before != null) {
    const load = (r: ResultFile): string => `${r.machine.loadAvgStart}–${r.machine.loadAvgEnd}`
    for (const t of acrossRunTargets(after.data as AffinityData, before.data as AffinityData)) {
      const k = key(t)
      rows.push([k, t.target, '(the reference)', `${t.measured} (${t.what.slice(k.length + 2)}; load ${load(after)} after, ${load(before)} before)`, t.met ? 'met' : '**missed**'])
    }
  }
  for (const t of decision?.targets ?? []) rows.push([`route decision: ${t.what}`, t.target, '–', `${t.measured} (\`route-decision.json\`)`, t.met ? 'met' : '**missed**'])
  if (decision == null) rows.push(['route decision ≤ 50 µs p99 with 10,000 prefixes indexed', '≤ 50 µs p99', '–', 'no `route-decision.json` yet', '–'])
  return table(['issue 23 target', 'target', 'before', 'after', 'after: met?'], rows)
}

/**
 * Another full after run kept for comparison (`bench/results/affinity-earlier/`): the same policies
 * under other load. Its targets, in one line, so a reader sees how much the verdicts move between runs.
 */
function earlierLine (earlier: ResultFile | undefined, after: ResultFile | undefined): string {
  if (earlier == null || after == null || earlier.run.mode !== after.run.mode) return ''
  const verdicts = earlier.targets.map(t => `${t.what}: ${t.measured}, ${t.met ? 'met' : '**missed**'}`).join('; ')
  // A fixed text about one run: said only of the run it describes.
  const code = earlier.run.gitCommit.startsWith(EARLIER_COMMIT) ? ` ${EARLIER_CODE}` : ''
  return `Another full after run, ${ref(earlier)} (\`bench/results/affinity-earlier/affinity.json\`).${code} Its verdicts: ${verdicts}.`
}

const EARLIER_COMMIT = '5cc7403b'
const EARLIER_CODE = 'That commit is a local merge, made before main had them, of the routing branch (5269b7e), the prompt-cache branch (74be280) and this harness (44dfc74); its `src/` is main\'s c7f3b61 but for one comment (the "+ changes" is an untracked node_modules link). Its 1-minute load average was 28.5 at the start, 31.3 at the end and 33–37 when read in between: its policies ran under similar load.'

export function affinitySection (after: ResultFile | undefined, before: ResultFile | undefined, decision: ResultFile | undefined, earlier?: ResultFile): string {
  const main = after ?? before
  if (main == null) return ''
  const p = main.params as any
  const sz = p.sizes
  const firstTokens = (r: ResultFile | undefined): string => r == null ? '' : `${n0((r.params as any).firstTurnPromptTokens)} tokens`
  const intro = [
    `Serving peers: ${p.servingPeers}; model ${p.model}. Clients talk only to entry peers with no backend. Every request streams and asks for ${p.maxTokens} tokens, so the figures are about prompt evaluation.`,
    `Workloads: (a) ${sz.a.conversations} conversations × ${sz.a.turns} turns, ${sz.a.concurrency} at a time, each with its own system prompt of ${sz.systemWords} words (first turns measured at ${firstTokens(main)} on average); (b) ${sz.b.requests} one-shots, ${sz.b.concurrency} at a time, sharing one such system prompt; (c) ${sz.c.requests} one-shots, ${sz.c.concurrency} at a time, each with its own ${sz.c.systemWords}-word prompt; (d) ${sz.d.hotClients} clients growing one conversation (${sz.d.hotTurns} turns each) while ${sz.d.backgroundClients} client${sz.d.backgroundClients === 1 ? '' : 's'} send one-shots that share nothing; and (a) again with ${sz.twoEntries.conversations} conversations × ${sz.twoEntries.turns} turns through two entry peers, each turn through the other one.`,
    'Before: ' + (before == null ? 'no run kept.' : `${ref(before)} — the code before issue 23 (today's routing only, the embedded backend clears its cache after every request).`) +
      ' After: ' + (after == null ? 'no run yet: `npm run bench:affinity` (`npm run bench:affinity -- --quick` for a smoke run).' : `${ref(after)}, policies ${(after.data as AffinityData).policies.map(x => `\`${x}\``).join(', ')} side by side.`) +
      (before != null && comparable(after, before) == null ? ` The before run is a ${before.run.mode} run and the after run a ${after?.run.mode} one, with other sizes: they are not put side by side.` : '')
  ].join('\n\n')
  const workloads = WORKLOADS.map(w => {
    const rows = rowsOf(w.setup, w.workload, after, before)
    return rows.length === 0 ? '' : `**${w.label}**\n\n${workloadTable(rows, w.workload)}`
  }).filter(x => x !== '')
  // Policies run one after another: when the machine's load moves a lot during the run, the later ones had it easier.
  const m = after?.machine
  const drift = m != null && Math.abs(m.loadAvgEnd - m.loadAvgStart) > 0.3 * Math.max(m.loadAvgStart, m.loadAvgEnd)
    ? `The machine's load moved from ${m.loadAvgStart} to ${m.loadAvgEnd} during the after run${(after?.data as AffinityData).runs.some(x => x.load != null) ? ' (per-run load averages are in the tables below)' : ''}: a policy that ran later in a workload had a ${m.loadAvgEnd < m.loadAvgStart ? 'quieter' : 'busier'} machine, so read its ratios with that in mind.`
    : ''
  const plot = '![Workload (a): time to first token, first turns and follow-ups, per run](bench/affinity.svg)'
  return [
    intro,
    targetsTable(after, before, decision),
    drift,
    earlierLine(earlier, after),
    plot,
    'Cached share = prompt tokens the serving peer reported as taken from its cache (usage.prompt_tokens_details.cached_tokens) over all prompt tokens; in brackets, the same without each serving peer\'s first request. Requests per peer and in flight per peer are in the order serve-1 / serve-2 / serve-3.',
    ...workloads
  ].filter(x => x !== '').join('\n\n')
}

/** Workload (a): TTFT p50 of first turns and of follow-ups per run, horizontal bars. Plain SVG. */
export function affinitySvg (after: ResultFile | undefined, before: ResultFile | undefined): string {
  const bars = [...rowsOf('1 entry', 'a', after, before), ...rowsOf('2 entries', 'a', after, before).map(r => ({ ...r, label: `${r.label}, 2 entries` }))]
  const W = 640
  const rowH = 34
  const m = { l: 190, r: 90, t: 44, b: 44 }
  const H = m.t + m.b + Math.max(1, bars.length) * rowH
  const values = bars.flatMap(b => [b.run.figures.ttftFirstMs.p50, b.run.figures.ttftFollowUpMs.p50]).filter(v => Number.isFinite(v))
  const maxMs = Math.max(1_000, ...values) * 1.05
  const x = (ms: number): number => m.l + (Number.isFinite(ms) ? ms : 0) / maxMs * (W - m.l - m.r)
  const f1 = (v: number): string => v.toFixed(1)
  const step = [1_000, 2_000, 5_000, 10_000, 20_000, 50_000].find(s => maxMs / s <= 8) ?? 100_000
  const ticks: string[] = []
  for (let v = 0; v <= maxMs; v += step) ticks.push(`<line x1="${f1(x(v))}" y1="${m.t}" x2="${f1(x(v))}" y2="${H - m.b}" stroke="#e5e5e5"/><text x="${f1(x(v))}" y="${H - m.b + 16}" text-anchor="middle">${v / 1000}</text>`)
  const rows = bars.map((b, i) => {
    const y = m.t + i * rowH
    const f = b.run.figures
    const bar = (ms: number, dy: number, color: string): string => `<rect x="${m.l}" y="${y + dy}" width="${f1(x(ms) - m.l)}" height="12" fill="${color}"/><text x="${f1(x(ms) + 4)}" y="${y + dy + 10}" font-size="11">${Number.isFinite(ms) ? (ms / 1000).toFixed(2) : '–'}</text>`
    return `<text x="${m.l - 8}" y="${y + 13}" text-anchor="end">${b.label}</text><text x="${m.l - 8}" y="${y + 26}" text-anchor="end" font-size="10" fill="#777">wall ${n1(f.wallS)} s, warm ${f.warmFollowUps.warm}/${f.warmFollowUps.of}</text>` +
      bar(f.ttftFirstMs.p50, 3, '#9ecae1') + bar(f.ttftFollowUpMs.p50, 17, '#1f77b4')
  })
  const source = after != null ? `bench/results/${after.run.mode === 'quick' ? 'affinity.quick.json' : 'affinity.json'}` : 'bench/results/before-23/affinity.json'
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12" fill="#333">
<title>Workload (a): TTFT p50 per run (from ${source}${after != null && before != null ? ' and bench/results/before-23/affinity.json' : ''})</title>
<rect width="${W}" height="${H}" fill="#fff"/>
<text x="${W / 2}" y="18" text-anchor="middle" font-size="14">Conversations (a): time to first token, median</text>
<rect x="${m.l}" y="26" width="10" height="10" fill="#9ecae1"/><text x="${m.l + 14}" y="35">first turns</text>
<rect x="${m.l + 90}" y="26" width="10" height="10" fill="#1f77b4"/><text x="${m.l + 104}" y="35">follow-ups</text>
${ticks.join('\n')}
${rows.join('\n')}
<line x1="${m.l}" y1="${m.t}" x2="${m.l}" y2="${H - m.b}" stroke="#333"/>
<text x="${(m.l + W - m.r) / 2}" y="${H - 10}" text-anchor="middle">seconds</text>
</svg>
`
}
