// Reading V8 heap snapshots (the .heapsnapshot JSON of `--heapsnapshot-signal`, DevTools or
// v8.writeHeapSnapshot) to find what grows (issue 25): objects grouped by constructor, two
// snapshots of one process compared, and who retains a new object. heap-diff.ts is the CLI.
//
// The format: `nodes` and `edges` are flat integer arrays, each node `node_fields.length` wide
// and each edge `edge_fields.length` wide; a node's edges follow those of the node before it
// (edge_count each); an edge's to_node is an index into `nodes` (a multiple of the node width).
import { readFileSync } from 'node:fs'

export interface HeapSnapshot {
  nodeCount: number
  node: (i: number) => { type: string, name: string, id: number, selfSize: number }
  /** Edges of node `i`: [type, name (a property name or an index), target node]. */
  edges: (i: number) => Array<{ type: string, name: string, to: number }>
}

export function parseHeapSnapshot (json: string): HeapSnapshot {
  const raw = JSON.parse(json) as {
    snapshot: { meta: { node_fields: string[], edge_fields: string[], node_types: [string[]], edge_types: [string[]] } }
    nodes: number[], edges: number[], strings: string[]
  }
  const meta = raw.snapshot.meta
  const nw = meta.node_fields.length
  const ew = meta.edge_fields.length
  const field = (fields: string[], name: string): number => {
    const i = fields.indexOf(name)
    if (i < 0) throw new Error(`not a V8 heap snapshot: no ${name} field`)
    return i
  }
  const nf = { type: field(meta.node_fields, 'type'), name: field(meta.node_fields, 'name'), id: field(meta.node_fields, 'id'), selfSize: field(meta.node_fields, 'self_size'), edgeCount: field(meta.node_fields, 'edge_count') }
  const ef = { type: field(meta.edge_fields, 'type'), name: field(meta.edge_fields, 'name_or_index'), to: field(meta.edge_fields, 'to_node') }
  const nodes = Float64Array.from(raw.nodes)
  const edges = Float64Array.from(raw.edges)
  const nodeCount = nodes.length / nw
  const firstEdge = new Float64Array(nodeCount + 1)
  for (let i = 0; i < nodeCount; i++) firstEdge[i + 1] = num(firstEdge, i) + num(nodes, i * nw + nf.edgeCount) * ew
  const str = (i: number): string => raw.strings[i] ?? ''
  return {
    nodeCount,
    node: i => ({
      type: meta.node_types[0][num(nodes, i * nw + nf.type)] ?? '?',
      name: str(num(nodes, i * nw + nf.name)),
      id: num(nodes, i * nw + nf.id),
      selfSize: num(nodes, i * nw + nf.selfSize)
    }),
    edges: i => {
      const out: Array<{ type: string, name: string, to: number }> = []
      for (let e = num(firstEdge, i); e < num(firstEdge, i + 1); e += ew) {
        const type = meta.edge_types[0][num(edges, e + ef.type)] ?? '?'
        const n = num(edges, e + ef.name)
        // element and hidden edges are indexed; the others name a string.
        out.push({ type, name: type === 'element' || type === 'hidden' ? `[${n}]` : str(n), to: num(edges, e + ef.to) / nw })
      }
      return out
    }
  }
}

export function readHeapSnapshot (path: string): HeapSnapshot {
  return parseHeapSnapshot(readFileSync(path, 'utf8'))
}

function num (a: Float64Array, i: number): number {
  return a[i] ?? 0
}

/** Objects group by constructor; everything else by its node type (and a short name for closures and code). */
export function groupOf (node: { type: string, name: string }): string {
  const { type, name } = node
  if (type === 'object' || type === 'native') return name
  if (type === 'closure') return `(closure ${name.slice(0, 60)})`
  if (type === 'string' || type === 'concatenated string' || type === 'sliced string') return '(string)'
  return `(${type}${name !== '' && type !== 'number' ? ' ' + name.slice(0, 40) : ''})`
}

/**
 * Code, bytecode, feedback and the maps' dependent-code lists: what V8's compilers add while a
 * process warms up. No leak unless it keeps growing, so it is counted apart from what the program keeps.
 */
export function isCodeGroup (group: string): boolean {
  return group.startsWith('(code') || group.includes('WeakArrayList')
}

export interface GroupTotal { count: number, size: number }

export function groupTotals (s: HeapSnapshot, include: (i: number) => boolean = () => true): Map<string, GroupTotal> {
  const out = new Map<string, GroupTotal>()
  for (let i = 0; i < s.nodeCount; i++) {
    if (!include(i)) continue
    const node = s.node(i)
    const k = groupOf(node)
    const t = out.get(k) ?? { count: 0, size: 0 }
    t.count++
    t.size += node.selfSize
    out.set(k, t)
  }
  return out
}

export interface GroupDelta { group: string, count: number, size: number, countDelta: number, sizeDelta: number }

/** Per group, the later snapshot's count and size and their change since the earlier; largest growth first. */
export function diffGroups (before: Map<string, GroupTotal>, after: Map<string, GroupTotal>): GroupDelta[] {
  return [...new Set([...before.keys(), ...after.keys()])].map(group => {
    const x = before.get(group) ?? { count: 0, size: 0 }
    const y = after.get(group) ?? { count: 0, size: 0 }
    return { group, count: y.count, size: y.size, countDelta: y.count - x.count, sizeDelta: y.size - x.size }
  }).sort((p, q) => q.sizeDelta - p.sizeDelta)
}

/** Bytes in code groups and in the rest. */
export function splitCode (totals: Map<string, GroupTotal>): { code: number, rest: number } {
  let code = 0
  let rest = 0
  for (const [k, t] of totals) { if (isCodeGroup(k)) code += t.size; else rest += t.size }
  return { code, rest }
}

/** Embedder (native) and synthetic nodes take ids from their own range: only heap objects count. */
function isHeapObject (node: { type: string }): boolean {
  return node.type !== 'native' && node.type !== 'synthetic'
}

/**
 * V8 keeps object ids stable within a process and gives new objects higher ones: a heap object in
 * a later snapshot with an id above the earlier snapshot's highest was allocated in between and survived.
 */
export function newSince (earlier: HeapSnapshot, later: HeapSnapshot): (i: number) => boolean {
  const cut = highestId(earlier)
  return i => { const node = later.node(i); return isHeapObject(node) && node.id > cut }
}

/**
 * The three-snapshot method: objects of `third` allocated between `first` and `second`. Whatever
 * was merely in flight at the second snapshot (a request, a connection's handshake) is gone by the
 * third; what is left was kept, and is what a leak looks like.
 */
export function keptFromBetween (first: HeapSnapshot, second: HeapSnapshot, third: HeapSnapshot): (i: number) => boolean {
  const from = highestId(first)
  const to = highestId(second)
  return i => { const node = third.node(i); return isHeapObject(node) && node.id > from && node.id <= to }
}

function highestId (s: HeapSnapshot): number {
  let cut = 0
  for (let i = 0; i < s.nodeCount; i++) {
    const node = s.node(i)
    if (isHeapObject(node)) cut = Math.max(cut, node.id)
  }
  return cut
}

/**
 * The shortest chain of strong references from the GC roots (node 0) to each of `targets`, as
 * "group --edge type:name-->" steps. Weak edges retain nothing and are skipped.
 */
export function retainerPaths (s: HeapSnapshot, targets: number[], maxSteps = 40): string[][] {
  const dist = new Int32Array(s.nodeCount).fill(-1)
  const via = new Int32Array(s.nodeCount).fill(-1)
  const viaEdge: string[] = new Array<string>(s.nodeCount)
  const queue = new Int32Array(s.nodeCount)
  let head = 0
  let tail = 0
  dist[0] = 0
  queue[tail++] = 0
  // Breadth first: the first time a node is reached is along a shortest path.
  while (head < tail) {
    const i = queue[head++] ?? 0
    for (const e of s.edges(i)) {
      if (e.type === 'weak' || (dist[e.to] ?? 0) >= 0) continue
      dist[e.to] = (dist[i] ?? 0) + 1
      via[e.to] = i
      viaEdge[e.to] = `${e.type}:${e.name.slice(0, 50)}`
      queue[tail++] = e.to
    }
  }
  return targets.map(t => {
    const steps: string[] = []
    for (let cur = t, n = 0; cur > 0 && n < maxSteps; n++) {
      const from = via[cur] ?? -1
      if (from < 0) { steps.push('(unreachable)'); break }
      steps.push(`${groupOf(s.node(from))} --${viaEdge[cur] ?? '?'}-->`)
      cur = from
    }
    return steps.reverse()
  })
}
