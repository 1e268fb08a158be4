// Compares two V8 heap snapshots of one process (issue 25, "find what grows"):
//   npx tsx scripts/soak/heap-diff.ts before.heapsnapshot after.heapsnapshot [third.heapsnapshot] [--top 40] [--paths GROUP]… [--samples 4]
// Take them with the peer started under NODE_OPTIONS="--heapsnapshot-signal=SIGUSR2
// --diagnostic-dir=DIR" and `kill -USR2 <pid>` (a snapshot begins with a full collection, so it
// holds only what is reachable). Prints code (JIT output and its metadata) apart from the rest;
// the growth by group (constructor for objects); the objects of the later snapshot allocated
// after the earlier one that survived; with a third snapshot, those allocated between the first two
// that are still there in the third (in-flight work is gone by then: what is left was kept); with
// --paths, who retains a few of those objects of that group.
import { parseArgs } from 'node:util'
import { diffGroups, groupOf, groupTotals, keptFromBetween, newSince, readHeapSnapshot, retainerPaths, splitCode } from './heap-snapshot.js'

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    top: { type: 'string', default: '40' },
    paths: { type: 'string', multiple: true },
    samples: { type: 'string', default: '4' },
    'no-code': { type: 'boolean', default: false }
  }
})
const [pathA, pathB, pathC] = positionals
if (pathA == null || pathB == null) {
  console.error('usage: heap-diff.ts before.heapsnapshot after.heapsnapshot [--top N] [--paths GROUP] [--samples N] [--no-code]')
  process.exit(2)
}
const top = Number(values.top)
const mb = (b: number): string => (b / 1e6).toFixed(3)
const a = readHeapSnapshot(pathA)
const b = readHeapSnapshot(pathB)
const totalsA = groupTotals(a)
const totalsB = groupTotals(b)
const splitA = splitCode(totalsA)
const splitB = splitCode(totalsB)
console.log(`code and its metadata: ${mb(splitA.code)} → ${mb(splitB.code)} MB; everything else: ${mb(splitA.rest)} → ${mb(splitB.rest)} MB (Δ ${((splitB.rest - splitA.rest) / 1e3).toFixed(1)} kB)`)

const shown = (group: string): boolean => values['no-code'] !== true || !group.startsWith('(code')
console.log('\n== growth by group (self size), largest first\n   Δbytes   Δcount        count  group')
for (const r of diffGroups(totalsA, totalsB).filter(r => shown(r.group)).slice(0, top)) {
  console.log(`${String(r.sizeDelta).padStart(9)} ${String(r.countDelta).padStart(8)} ${String(r.count).padStart(12)}  ${r.group}`)
}

const c = pathC != null ? readHeapSnapshot(pathC) : undefined
const last = c ?? b
const fresh = c != null ? keptFromBetween(a, b, c) : newSince(a, b)
const freshTotals = groupTotals(last, fresh)
const freshBytes = [...freshTotals.values()].reduce((t, x) => t + x.size, 0)
const what = c != null ? 'allocated between the first two snapshots and still reachable in the third' : 'allocated after the earlier snapshot and still reachable'
console.log(`\n== ${what}: ${mb(freshBytes)} MB\n    bytes    count  group`)
for (const [group, t] of [...freshTotals].filter(([g]) => shown(g)).sort((p, q) => q[1].size - p[1].size).slice(0, top)) {
  console.log(`${String(t.size).padStart(9)} ${String(t.count).padStart(8)}  ${group}`)
}

for (const group of values.paths ?? []) {
  const picks: number[] = []
  for (let i = last.nodeCount - 1; i >= 0 && picks.length < Number(values.samples); i--) {
    if (fresh(i) && groupOf(last.node(i)) === group) picks.push(i)
  }
  console.log(`\n== who retains new ${group} (${picks.length} samples)`)
  for (const steps of retainerPaths(last, picks)) {
    console.log('--')
    for (const step of steps) console.log('  ' + step)
    console.log('  ' + group)
  }
}
