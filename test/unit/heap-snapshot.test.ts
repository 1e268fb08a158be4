import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { diffGroups, groupOf, groupTotals, isCodeGroup, keptFromBetween, newSince, readHeapSnapshot, retainerPaths, splitCode, type HeapSnapshot } from '../../scripts/soak/heap-snapshot.js'

// The heap-snapshot reader behind scripts/soak/heap-diff.ts (issue 25): on two real snapshots of
// a small process that keeps 5,000 objects of its own class in between, the diff must name that
// class with that count, and the retainer path must lead to the array that keeps them.

const KEPT = 5_000
const IN_FLIGHT = 3_000

describe('heap snapshot diff', function () {
  this.timeout(60_000)
  let dir: string
  let first: HeapSnapshot
  let second: HeapSnapshot
  let third: HeapSnapshot

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'heap-diff-'))
    const script = `
      const { writeHeapSnapshot } = require('node:v8')
      class KeptThing { constructor (i) { this.i = i } }
      class InFlight { constructor (i) { this.i = i } }
      globalThis.keptThings = []
      writeHeapSnapshot(${JSON.stringify(join(dir, 'a.heapsnapshot'))})
      for (let i = 0; i < ${KEPT}; i++) globalThis.keptThings.push(new KeptThing(i))
      for (let i = 0; i < ${KEPT}; i++) new KeptThing(i) // garbage: must not be counted
      globalThis.inFlight = Array.from({ length: ${IN_FLIGHT} }, (_, i) => new InFlight(i))
      writeHeapSnapshot(${JSON.stringify(join(dir, 'b.heapsnapshot'))})
      globalThis.inFlight = undefined
      writeHeapSnapshot(${JSON.stringify(join(dir, 'c.heapsnapshot'))})`
    execFileSync(process.execPath, ['-e', script], { timeout: 30_000 })
    first = readHeapSnapshot(join(dir, 'a.heapsnapshot'))
    second = readHeapSnapshot(join(dir, 'b.heapsnapshot'))
    third = readHeapSnapshot(join(dir, 'c.heapsnapshot'))
  })
  after(() => { rmSync(dir, { recursive: true, force: true }) })

  it('counts the kept objects, and not the garbage, under their constructor', () => {
    const row = diffGroups(groupTotals(first), groupTotals(second)).find(r => r.group === 'KeptThing')
    assert.ok(row != null, 'no KeptThing group')
    assert.equal(row.count, KEPT)
    assert.equal(row.countDelta, KEPT)
    assert.ok(row.sizeDelta >= KEPT * 12, `size grew ${row.sizeDelta} bytes`)
  })

  it('finds them all among the objects allocated between the snapshots', () => {
    const fresh = groupTotals(second, newSince(first, second))
    assert.equal(fresh.get('KeptThing')?.count, KEPT)
    // The earlier snapshot's own objects are not new in the later one.
    assert.equal(groupTotals(first, newSince(first, first)).size, 0)
  })

  it('with a third snapshot, keeps what was kept and drops what was only in flight', () => {
    assert.equal(groupTotals(second, newSince(first, second)).get('InFlight')?.count, IN_FLIGHT)
    const kept = groupTotals(third, keptFromBetween(first, second, third))
    assert.equal(kept.get('KeptThing')?.count, KEPT)
    assert.equal(kept.get('InFlight'), undefined)
  })

  it('traces the kept objects back to the global array that keeps them', () => {
    const targets: number[] = []
    for (let i = 0; i < second.nodeCount; i++) if (groupOf(second.node(i)) === 'KeptThing') targets.push(i)
    const paths = retainerPaths(second, targets)
    // The last one made may be reached through the stack first; the others only through the array.
    const viaArray = paths.filter(steps => steps.some(s => s.includes('property:keptThings')) && /^Array --element:/.test(steps.at(-1) ?? ''))
    assert.ok(viaArray.length >= KEPT - 1, `${viaArray.length} of ${KEPT}; e.g.\n${(paths[0] ?? []).join('\n')}`)
  })

  it('counts code apart from the rest', () => {
    for (const [group, code] of [['(code)', true], ['(code (code deopt data))', true], ['(hidden system / WeakArrayList)', true], ['Object', false], ['(string)', false], ['(closure onAbort)', false]] as const) {
      assert.equal(isCodeGroup(group), code, group)
    }
    const { code, rest } = splitCode(groupTotals(second))
    assert.ok(code > 0 && rest > 0)
  })
})
