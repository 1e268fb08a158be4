// Renders the "Membership simulator" section of BENCHMARKS.md (between <!-- sim:start --> and
// <!-- sim:end -->) and bench/membership-sim.svg from bench/results/membership-sim.json. Every
// figure is read from the result file.
//
//   tsx scripts/sim/report.ts        (run.ts calls it after a full run)
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { REPO_ROOT } from '../bench/runtime.js'
import { BroadcastQueue } from '../../src/membership/broadcasts.js'
import { PROFILES } from '../../src/membership/profiles.js'
import type { SimRow } from './rows.js'
import { MAX_MSGS_RATIO, RESULT_FILE, RESULTS_DIR, type SimResultFile } from './suite.js'

export const START_MARKER = '<!-- sim:start -->'
export const END_MARKER = '<!-- sim:end -->'
const BENCHMARKS = join(REPO_ROOT, 'BENCHMARKS.md')
const SVG_PATH = join(REPO_ROOT, 'bench', 'membership-sim.svg')

const int = (v: number | null | undefined): string => v == null || !Number.isFinite(v) ? '–' : Math.round(v).toLocaleString('en-US')
const dec = (v: number | null | undefined, digits = 2): string => v == null || !Number.isFinite(v) ? '–' : v.toFixed(digits)
const pct = (loss: number): string => `${Math.round(loss * 1000) / 10} %`
const pair = (a: number | null, b: number | null): string => `${int(a)} / ${int(b)}`
const statusText = { met: '**met**', missed: '**missed**', unproven: 'not shown (sample too small)' } as const

function table (head: string[], rows: string[][]): string {
  return [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...rows.map(r => `| ${r.join(' | ')} |`)].join('\n')
}

const at = (rows: readonly SimRow[], n: number, loss: number): SimRow | undefined => rows.find(r => r.n === n && r.loss === loss)

/** The section, markers included. */
export function renderSection (file: SimResultFile, svgPath = 'bench/membership-sim.svg'): string {
  const rows = file.rows
  const out: string[] = [START_MARKER, '## Membership simulator', '']
  out.push('The real membership code (`src/membership`: `Swim` with its prober, dissemination and push-pull around the pure view) runs in virtual time over a simulated network (`scripts/sim/`): one-way latency uniform in 0.2–50 ms, each message lost with probability *loss* (each direction on its own), 5 % slow peers (every message they receive arrives 100 ms late), joins through one bootstrap member (both sides push-pull their views, as on a new libp2p connection), silent crashes (the peer stops and answers nothing), and at N = 100 a partition into two random halves. Timing profile `PROFILES.lan`. Each run starts converged (every peer seeded with every announcement), warms up 3 s, is measured idle, then joins and crashes alternate.')
  out.push('')
  out.push(`![Membership simulator: messages per peer per second and convergence time against N](${svgPath})`)
  out.push('')
  out.push(table(
    ['N', 'loss', 'msgs / peer / s', 'bytes / peer / s', 'join seen by all, p50 / p99 (ms)', 'crash held not alive by all, p50 / p99 (ms)', 'crash held dead by all, p50 / p99 (ms)', 'false deaths / 1,000 peer-h', 'runs · joins · crashes · peer-h'],
    rows.map(r => [
      int(r.n), pct(r.loss), dec(r.msgs_per_peer_per_s), int(r.bytes_per_peer_per_s),
      pair(r.join_converge_ms_p50, r.join_converge_ms_p99), pair(r.crash_detect_ms_p50, r.crash_detect_ms_p99), pair(r.crash_dead_ms_p50, r.crash_dead_ms_p99),
      `${dec(r.false_deaths_per_1000_peer_hours, 1)} (${r.false_deaths} seen)`,
      `${r.trials} · ${r.joins}${r.joins_unconverged > 0 ? ` (${r.joins_unconverged} never)` : ''} · ${r.crashes}${r.crashes_undetected > 0 ? ` (${r.crashes_undetected} never)` : ''} · ${dec(r.peer_hours, 1)}`
    ])
  ))
  out.push('')
  out.push('Targets (issue 12):')
  out.push('')
  out.push(table(['target', 'measured', ''], file.targets.map(t => [`${t.what}: ${t.target}`, t.measured, statusText[t.status]])))
  out.push('')
  const part = rows.find(r => r.partition_heal_ms != null || r.msgs_per_peer_per_s_partition != null)
  const n10 = at(rows, 10, 0.01)
  const n1000 = at(rows, 1000, 0.01)
  const notes: string[] = []
  notes.push('**msgs and bytes per peer per second** are what each live peer sends while nothing changes: the probes, acks, ping-reqs and gossip counted over the idle window, plus the push-pull at its steady rate — two full-view frames per interval (its own exchange and one it answers), with the frame measured from a real view at that N and the interval anti-entropy.ts schedules (`antiEntropyIntervalMs × pushPullScale(N)`). The rate is used instead of the window\'s count because the first push-pull comes 0.5–1.5 intervals after start, so a short window at N ≥ 100 sees none.' +
    (n10 != null ? ` Check at N = 10, whose window is long enough: ${int(n10.push_pull_bytes_per_peer_per_s_in_window)} B/s measured in the window vs ${int(n10.push_pull_bytes_per_peer_per_s)} B/s from the rate.` : '') +
    ` Messages per peer do not grow with N; bytes do, through the full-view frame${n1000 != null ? ` (${int(n1000.push_pull_frame_bytes / 1000)} kB at N = 1,000, every ${dec(n1000.push_pull_interval_s, 0)} s on average: ${int(n1000.push_pull_bytes_per_peer_per_s)} of its ${int(n1000.bytes_per_peer_per_s)} B/s)` : ''}.`)
  notes.push('Bytes are the JSON length of each frame as `libp2p-transport.ts` writes it, plus its length prefix; noise, yamux and TCP overhead are not counted. The signer is a stand-in (a fixed 88-character signature, the length of a real one; verifying costs nothing): cryptography is not what the simulator measures.')
  notes.push('**Join** time runs from the joiner\'s start until every live peer lists it alive; **crash** time from the crash until every live peer holds it suspect or dead (and, in the next column, dead). p99 is interpolated over the samples counted in the last column: with a handful of samples (N = 1,000) it is in effect their maximum.')
  notes.push('**False deaths** are distinct (peer, version) pairs some live peer declared dead while that peer was up, outside the partition and its healing, per 1,000 live peer-hours. A run of a few minutes holds only a few peer-hours, so zero false deaths bounds the rate only loosely (the 95 % upper bound is in the target line).' +
    ` False suspicions (refuted in time): ${rows.map(r => `${r.false_suspicions} at N = ${int(r.n)}, ${pct(r.loss)}`).join('; ')}.`)
  if (part != null) {
    notes.push(`**Partition** (N = ${int(part.n)}, ${pct(part.loss)}): two random halves cut off for 4 s, then healed. Re-converged (every live peer holds every other alive) ${part.partition_heal_ms == null ? 'not within the 30-s bound' : `${int(part.partition_heal_ms)} ms after the heal`}. While cut, each peer sent ${dec(part.msgs_per_peer_per_s_partition, 0)} msgs/s (suspects are probed with relays until settled, and dead members are pinged to see whether they are back), and ${dec(part.msgs_per_peer_per_s_healing, 0)} msgs/s while healing (${part.partition_deaths} distinct deaths in all; ${int(part.partition_same_side_death_observations)} observations were of a peer on the observer's own side: "dead" verdicts that crossed the healed line, refuted by their subjects within the heal time).`)
  }
  const small = rows.filter(r => r.join_converge_ms_p99 != null).sort((a, b) => a.n - b.n)[0]
  if (small != null && n1000 != null && (small.join_converge_ms_p99 ?? 0) > (n1000.join_converge_ms_p99 ?? Infinity)) {
    notes.push(`**The smallest cluster has the longest join tail** (N = ${int(small.n)}: p99 ${int(small.join_converge_ms_p99)} ms, max ${int(small.join_converge_ms_max)} ms, against ${int(n1000.join_converge_ms_p99)} ms at N = 1,000): each update is passed on only \`retransmitMult × ⌈log10(N + 1)⌉\` = ${BroadcastQueue.limit(PROFILES.lan.retransmitMult, small.n)} times per peer there, every peer learns of a join within a few gossip rounds and spends that budget at the same time (some of it on probes of suspect and dead members), and now and then one peer is missed until a later push-pull or message carries the joiner.`)
  }
  notes.push(`**While peers churn**, per-peer traffic rises (${rows.map(r => `${dec(r.msgs_per_peer_per_s_events, 1)} msgs/s at N = ${int(r.n)}, ${pct(r.loss)}`).join('; ')}): every peer probes each new suspect at once (with relays), and pings each dead member now and then while it stays listed (60 s), to see whether it is back.`)
  notes.push('`isConnected` is true for every pair: no connection budget is modelled (the real mesh keeps a bounded set and probes over it), so probing and gossip pick among all members, as plain SWIM does.')
  if (n1000 != null) {
    notes.push(`Cost of the simulation itself: the N = 1,000 runs took ${dec(n1000.wall_s, 0)} s of wall time between them (${n1000.trials} runs, ${dec(n1000.virtual_s, 0)} s of virtual time, ${int(n1000.timers_fired)} timer events). The view is copy-on-write, so each message that refreshes a member's \`lastHeard\` copies a 1,000-entry Map, and each probe period builds two 1,000-entry Sets (probe-order.ts); that and the garbage it makes dominate the profile, which is why the N = 1,000 runs are short.`)
  }
  out.push(notes.map(n => `- ${n}`).join('\n'))
  out.push('')
  const m = file.machine
  out.push(`<sub>Source: \`bench/results/${RESULT_FILE}\` · ${file.run.mode} run · ${file.run.date.slice(0, 16).replace('T', ' ')} UTC · \`${file.run.gitCommit.slice(0, 8)}\`${file.run.gitDirty ? ' (uncommitted changes)' : ''} · \`${file.run.command}\` · ${file.run.durationSeconds} s wall on ${m.cores} × ${m.cpuModel}, Node ${m.node}${file.params.parallel ? ', jobs in worker threads' : ''}${m.loadAvgStart != null ? `, load average ${m.loadAvgStart} → ${m.loadAvgEnd}` : ''}</sub>`)
  out.push(END_MARKER)
  return out.join('\n')
}

/** Replaces the section between the markers, or appends it at the end of the file. */
export function spliceSection (document: string, section: string): string {
  const start = document.indexOf(START_MARKER)
  const end = document.indexOf(END_MARKER)
  if (start >= 0 && end > start) return document.slice(0, start) + section + document.slice(end + END_MARKER.length)
  return `${document.replace(/\s*$/, '')}\n\n${section}\n`
}

// --- the plot ----------------------------------------------------------------------------

interface Series { label: string, color: string, dash?: string, /** Points only (no line): another loss rate at one N. */ markersOnly?: boolean, points: Array<[number, number]> }

/** One small line chart, log-x over N, linear y from 0. */
function chart (x0: number, title: string, yLabel: string, series: Series[], ns: number[], yMax: number, limits: Array<{ y: number, color: string, label?: string }>): string {
  const W = 380
  const H = 330
  const m = { l: 56, r: 16, t: 40, b: 88 }
  const lx = (n: number): number => Math.log10(n)
  const [lo, hi] = [lx(Math.min(...ns)), lx(Math.max(...ns))]
  const x = (n: number): number => x0 + m.l + (hi === lo ? 0.5 : (lx(n) - lo) / (hi - lo)) * (W - m.l - m.r)
  const y = (v: number): number => H - m.b - (v / yMax) * (H - m.t - m.b)
  const f = (v: number): string => v.toFixed(1)
  const step = niceStep(yMax)
  const parts: string[] = [`<text x="${f(x0 + W / 2)}" y="20" text-anchor="middle" font-size="13">${title}</text>`]
  for (let v = 0; v <= yMax + 1e-9; v += step) {
    parts.push(`<line x1="${f(x0 + m.l)}" y1="${f(y(v))}" x2="${f(x0 + W - m.r)}" y2="${f(y(v))}" stroke="#e5e5e5"/><text x="${f(x0 + m.l - 6)}" y="${f(y(v) + 4)}" text-anchor="end">${Number(v.toFixed(3))}</text>`)
  }
  for (const n of ns) parts.push(`<line x1="${f(x(n))}" y1="${H - m.b}" x2="${f(x(n))}" y2="${H - m.b + 5}" stroke="#333"/><text x="${f(x(n))}" y="${H - m.b + 18}" text-anchor="middle">${n.toLocaleString('en-US')}</text>`)
  parts.push(`<line x1="${f(x0 + m.l)}" y1="${H - m.b}" x2="${f(x0 + W - m.r)}" y2="${H - m.b}" stroke="#333"/><line x1="${f(x0 + m.l)}" y1="${m.t}" x2="${f(x0 + m.l)}" y2="${H - m.b}" stroke="#333"/>`)
  for (const limit of limits) {
    parts.push(`<line x1="${f(x0 + m.l)}" y1="${f(y(limit.y))}" x2="${f(x0 + W - m.r)}" y2="${f(y(limit.y))}" stroke="${limit.color}" stroke-opacity="0.6" stroke-dasharray="8 5"/>`)
    if (limit.label != null) parts.push(`<text x="${f(x0 + W - m.r)}" y="${f(y(limit.y) - 5)}" text-anchor="end" fill="${limit.color}">${limit.label}</text>`)
  }
  for (const s of series) {
    if (s.points.length === 0) continue
    if (s.markersOnly !== true) parts.push(`<polyline points="${s.points.map(([n, v]) => `${f(x(n))},${f(y(v))}`).join(' ')}" fill="none" stroke="${s.color}" stroke-width="2"${s.dash != null ? ` stroke-dasharray="${s.dash}"` : ''}/>`)
    for (const [n, v] of s.points) parts.push(s.markersOnly === true ? `<rect x="${f(x(n) - 4)}" y="${f(y(v) - 4)}" width="8" height="8" fill="${s.color}"/>` : `<circle cx="${f(x(n))}" cy="${f(y(v))}" r="3.5" fill="${s.color}"/>`)
  }
  parts.push(`<text x="${f(x0 + (m.l + W - m.r) / 2)}" y="${H - m.b + 36}" text-anchor="middle">peers (N, log scale)</text>`)
  parts.push(`<text x="${f(x0 + 14)}" y="${f((m.t + H - m.b) / 2)}" text-anchor="middle" transform="rotate(-90 ${f(x0 + 14)} ${f((m.t + H - m.b) / 2)})">${yLabel}</text>`)
  // Legend under the axis title, two entries per line.
  series.forEach((s, i) => {
    const lxPos = x0 + m.l + (i % 2) * 160
    const lyPos = H - m.b + 56 + Math.floor(i / 2) * 16
    const key = s.markersOnly === true
      ? `<rect x="${f(lxPos + 5)}" y="${f(lyPos - 8)}" width="8" height="8" fill="${s.color}"/>`
      : `<line x1="${f(lxPos)}" y1="${f(lyPos - 4)}" x2="${f(lxPos + 18)}" y2="${f(lyPos - 4)}" stroke="${s.color}" stroke-width="2"${s.dash != null ? ` stroke-dasharray="${s.dash}"` : ''}/>`
    parts.push(`${key}<text x="${f(lxPos + 22)}" y="${f(lyPos)}">${s.label}</text>`)
  })
  return parts.join('\n')
}

function niceStep (max: number): number {
  const raw = max / 5
  const p = 10 ** Math.floor(Math.log10(raw))
  const k = raw / p
  return (k <= 1 ? 1 : k <= 2 ? 2 : k <= 5 ? 5 : 10) * p
}

export function renderSvg (file: SimResultFile): string {
  const lossy = file.rows.filter(r => r.loss === 0.01).sort((a, b) => a.n - b.n)
  const ns = [...new Set(file.rows.map(r => r.n))].sort((a, b) => a - b)
  const base = lossy.find(r => r.n === Math.min(...ns))
  const otherColors = ['#9467bd', '#8c564b', '#e377c2']
  const msgs: Series[] = [
    { label: '1 % loss', color: '#1f77b4', points: lossy.map(r => [r.n, r.msgs_per_peer_per_s]) },
    ...file.rows.filter(r => r.loss !== 0.01).map((r, i): Series => ({ label: `N = ${r.n.toLocaleString('en-US')}, ${pct(r.loss)} loss`, color: otherColors[i % otherColors.length] ?? '#999', markersOnly: true, points: [[r.n, r.msgs_per_peer_per_s]] }))
  ]
  const msgsMax = Math.max(1, ...file.rows.map(r => r.msgs_per_peer_per_s), base != null ? base.msgs_per_peer_per_s * MAX_MSGS_RATIO : 0) * 1.15
  const msgLimits = base != null ? [{ y: base.msgs_per_peer_per_s * MAX_MSGS_RATIO, color: '#d62728', label: `limit: ${MAX_MSGS_RATIO} × N = ${base.n}` }] : []
  const ms = (v: number | null): number => (v ?? NaN) / 1000
  const times: Series[] = [
    { label: 'join seen by all, p99', color: '#2ca02c', points: lossy.filter(r => r.join_converge_ms_p99 != null).map(r => [r.n, ms(r.join_converge_ms_p99)]) },
    { label: 'crash not alive at all, p99', color: '#ff7f0e', points: lossy.filter(r => r.crash_detect_ms_p99 != null).map(r => [r.n, ms(r.crash_detect_ms_p99)]) },
    { label: 'join, p50', color: '#2ca02c', dash: '3 3', points: lossy.filter(r => r.join_converge_ms_p50 != null).map(r => [r.n, ms(r.join_converge_ms_p50)]) },
    { label: 'crash, p50', color: '#ff7f0e', dash: '3 3', points: lossy.filter(r => r.crash_detect_ms_p50 != null).map(r => [r.n, ms(r.crash_detect_ms_p50)]) }
  ]
  const tMax = Math.max(3.5, ...times.flatMap(s => s.points.map(([, v]) => v))) * 1.1
  const W = 760
  const H = 330
  const left = chart(0, 'Messages sent per peer per second (idle)', 'msgs / peer / s', msgs, ns, msgsMax, msgLimits)
  // The targets as long dashes in their series' colour (named in the section's table).
  const right = chart(380, 'Seen by every peer (1 % loss; dashes: targets)', 'seconds', times, ns, tMax, [{ y: 2, color: '#2ca02c' }, { y: 3, color: '#ff7f0e' }])
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11" fill="#333">
<title>Membership simulator (from bench/results/${RESULT_FILE}, ${file.run.date.slice(0, 10)})</title>
<rect width="${W}" height="${H}" fill="#fff"/>
${left}
${right}
</svg>
`
}

/** Rewrites the SVG and the section in BENCHMARKS.md from the full run's result file; returns the page's path. */
export function updateBenchmarks (): string {
  const path = join(RESULTS_DIR, RESULT_FILE)
  if (!existsSync(path)) throw new Error(`no ${RESULT_FILE} yet: run \`npm run sim\` first`)
  const file = JSON.parse(readFileSync(path, 'utf8')) as SimResultFile
  writeFileSync(SVG_PATH, renderSvg(file))
  const page = existsSync(BENCHMARKS) ? readFileSync(BENCHMARKS, 'utf8') : '# Benchmarks\n'
  writeFileSync(BENCHMARKS, spliceSection(page, renderSection(file)))
  return BENCHMARKS
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  process.stdout.write(`updated ${updateBenchmarks()}\n`)
}
