// Summarises V8 CPU profiles (`--cpu-prof`, e.g. from `npm run bench:routed -- --cpu-prof`), so
// the hot spot of a peer is visible without DevTools:
// - by package: each sample is charged to the nearest package on its stack, so socket writes,
//   crypto and other native or Node-internal work count for the package that asked for them;
//   with, per package, the outside function that most often called into it;
// - by function: self time.
//
//   tsx scripts/bench/profile-summary.ts <file.cpuprofile>... [--top N]
import { readFileSync } from 'node:fs'
import { basename } from 'node:path'
import { pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'

interface ProfileNode {
  id: number
  callFrame: { functionName: string, url: string, lineNumber: number }
  children?: number[]
}

interface Profile {
  nodes: ProfileNode[]
  samples: number[]
  timeDeltas: number[]
  startTime: number
  endTime: number
}

export interface Share {
  name: string
  ms: number
  /** Percent of busy (non-idle) time. */
  share: number
}

export interface ProfileSummary {
  file: string
  totalMs: number
  /** Samples where V8 was idle (the event loop waiting). */
  idleMs: number
  byPackage: Array<Share & { calledFrom: Share[] }>
  byFunction: Share[]
  /** Time with the function anywhere on the (synchronous) stack: shows costly call trees such as a peer-store merge. */
  inclusive: Share[]
}

/** Charged here when no package is on the stack at all (event loop internals). */
const UNATTRIBUTED = '(node internals)'

/** `node_modules/@scope/pkg/…` → `@scope/pkg`; our files by folder (`src/protocol`, also when run from dist/); Node's own and native frames → undefined. */
function packageOf (url: string): string | undefined {
  if (url === '' || url.startsWith('node:')) return undefined
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)
  if (m != null) return m[1] as string
  // Our own code, compiled (dist/) or through tsx (src/), by folder: `src/protocol`.
  const own = /\/(src|dist|scripts)\/(.*)$/.exec(url)
  if (own != null) return `${own[1] === 'scripts' ? 'scripts' : 'src'}/${(own[2] as string).split('/').slice(0, -1).join('/') || '.'}`
  return basename(url)
}

function frameName (node: ProfileNode): string {
  const { functionName, url, lineNumber } = node.callFrame
  const where = url === '' ? '' : ` ${packageOf(url) ?? 'node'}:${basename(url)}:${lineNumber + 1}`
  return `${functionName === '' ? '(anonymous)' : functionName}${where}`
}

/**
 * `window` (µs on the monotonic clock, as `process.hrtime.bigint() / 1000n` reads it in any
 * process on the machine) keeps only the samples taken in it, e.g. the load phase without
 * start-up and shutdown.
 */
export function summarizeProfile (file: string, top = 15, window?: { fromUs: number, toUs: number }): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile
  const byId = new Map(profile.nodes.map(n => [n.id, n]))
  const parent = new Map<number, number>()
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
  const self = new Map<number, number>()
  let at = profile.startTime
  profile.samples.forEach((id, i) => {
    const delta = profile.timeDeltas[i] ?? 0
    at += delta
    if (window != null && (at < window.fromUs || at > window.toUs)) return
    self.set(id, (self.get(id) ?? 0) + delta)
  })
  const totalUs = window != null
    ? Math.min(window.toUs, profile.endTime) - Math.max(window.fromUs, profile.startTime)
    : profile.endTime - profile.startTime

  let idleUs = 0
  let busyUs = 0
  const pkg = new Map<string, number>()
  const callers = new Map<string, Map<string, number>>()
  const fns = new Map<string, number>()
  const incl = new Map<string, number>()
  const add = <K>(m: Map<K, number>, k: K, v: number): void => { m.set(k, (m.get(k) ?? 0) + v) }
  for (const [id, us] of self) {
    const node = byId.get(id)
    if (node == null) continue
    const fn = node.callFrame.functionName
    if (fn === '(idle)') { idleUs += us; continue }
    if (fn === '(program)') continue
    busyUs += us
    add(fns, frameName(node), us)
    // Each package function once per stack; Node's own frames (event loop, streams) would top every list.
    const seen = new Set<string>()
    for (let up: number | undefined = id; up != null; up = parent.get(up)) {
      const n = byId.get(up) as ProfileNode
      if (packageOf(n.callFrame.url) == null) continue
      const name = frameName(n)
      if (!seen.has(name)) { seen.add(name); add(incl, name, us) }
    }
    if (fn === '(garbage collector)') { add(pkg, '(gc)', us); continue }
    // Nearest package up the stack, then the first frame above it from another package: who called in.
    let cur: number | undefined = id
    let owner: string | undefined
    while (cur != null && owner == null) {
      owner = packageOf(byId.get(cur)?.callFrame.url ?? '')
      if (owner == null) cur = parent.get(cur)
    }
    if (owner == null) { add(pkg, UNATTRIBUTED, us); continue }
    add(pkg, owner, us)
    let up = cur != null ? parent.get(cur) : undefined
    while (up != null) {
      const n = byId.get(up) as ProfileNode
      const p = packageOf(n.callFrame.url)
      if (p != null && p !== owner) break
      up = parent.get(up)
    }
    // An async continuation has no caller on its stack; only real call sites are listed.
    if (up == null) continue
    const m = callers.get(owner) ?? new Map<string, number>()
    add(m, frameName(byId.get(up) as ProfileNode), us)
    callers.set(owner, m)
  }
  const rank = (m: Map<string, number>, n: number): Share[] => [...m.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([name, us]) => ({ name, ms: Math.round(us / 100) / 10, share: Math.round(us / busyUs * 1000) / 10 }))
  return {
    file,
    totalMs: Math.round(totalUs / 1000),
    idleMs: Math.round(idleUs / 1000),
    byPackage: rank(pkg, top).map(p => ({ ...p, calledFrom: rank(callers.get(p.name) ?? new Map(), 2) })),
    byFunction: rank(fns, top),
    inclusive: rank(incl, top)
  }
}

if (process.argv[1] != null && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: 'string', default: '15' } } })
  for (const file of positionals) {
    const s = summarizeProfile(file, Number(values.top))
    process.stdout.write(`\n${s.file}\n  wall ${s.totalMs} ms, idle ${s.idleMs} ms (shares are of busy, non-idle time)\n`)
    process.stdout.write('  by package (native and Node-internal work charged to the package that asked for it):\n')
    for (const r of s.byPackage) {
      process.stdout.write(`    ${r.share.toFixed(1).padStart(5)} %  ${String(r.ms).padStart(8)} ms  ${r.name}\n`)
      for (const c of r.calledFrom) process.stdout.write(`               ${c.share.toFixed(1).padStart(5)} % from ${c.name}\n`)
    }
    process.stdout.write('  by function (self time):\n')
    for (const r of s.byFunction) process.stdout.write(`    ${r.share.toFixed(1).padStart(5)} %  ${String(r.ms).padStart(8)} ms  ${r.name}\n`)
    process.stdout.write('  by function (inclusive, package code only):\n')
    for (const r of s.inclusive) process.stdout.write(`    ${r.share.toFixed(1).padStart(5)} %  ${String(r.ms).padStart(8)} ms  ${r.name}\n`)
  }
}
