import assert from 'node:assert/strict'
import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import ts from 'typescript'

// No two modules of src/ may reach each other through imports, type-only and lazy ones included
// (STYLE: "two files importing each other … move the shared piece into a third file").
// Found by Tarjan's strongly connected components over every relative import.

const SRC = fileURLToPath(new URL('../../src/', import.meta.url))

function sourceFiles (dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap(e =>
    e.isDirectory() ? sourceFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [])
}

function importsOf (file: string, known: ReadonlySet<string>): string[] {
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest)
  const specifiers: string[] = []
  const visit = (node: ts.Node): void => {
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier != null && ts.isStringLiteral(node.moduleSpecifier)) {
      specifiers.push(node.moduleSpecifier.text)
    }
    if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      const arg = node.arguments[0]
      if (arg != null && ts.isStringLiteral(arg)) specifiers.push(arg.text)
    }
    ts.forEachChild(node, visit)
  }
  visit(source)
  return specifiers
    .filter(s => s.startsWith('.'))
    .map(s => resolve(dirname(file), s.replace(/\.js$/, '.ts')))
    .filter(f => known.has(f))
}

/** Groups of two or more modules that import each other, directly or around a ring. */
export function importCycles (graph: ReadonlyMap<string, readonly string[]>): string[][] {
  let next = 0
  const index = new Map<string, number>()
  const low = new Map<string, number>()
  const stack: string[] = []
  const onStack = new Set<string>()
  const cycles: string[][] = []
  const connect = (v: string): void => {
    index.set(v, next)
    low.set(v, next++)
    stack.push(v)
    onStack.add(v)
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        connect(w)
        low.set(v, Math.min(low.get(v) ?? 0, low.get(w) ?? 0))
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v) ?? 0, index.get(w) ?? 0))
      }
    }
    if (low.get(v) === index.get(v)) {
      const group: string[] = []
      let w: string | undefined
      do {
        w = stack.pop()
        if (w != null) { onStack.delete(w); group.push(w) }
      } while (w != null && w !== v)
      if (group.length > 1) cycles.push(group.sort())
    }
  }
  for (const v of graph.keys()) if (!index.has(v)) connect(v)
  return cycles
}

describe('import cycles', () => {
  it('should find a two-file cycle and a ring, and nothing in a tree (the checker itself)', () => {
    const graph = new Map([['a', ['b']], ['b', ['a', 'c']], ['c', ['d']], ['d', ['e']], ['e', ['c']], ['f', ['a']]])
    assert.deepEqual(importCycles(graph), [['c', 'd', 'e'], ['a', 'b']])
    assert.deepEqual(importCycles(new Map([['a', ['b', 'c']], ['b', ['c']], ['c', []]])), [])
  })

  it('should find none among the modules of src/', () => {
    const files = sourceFiles(SRC)
    const known = new Set(files)
    const graph = new Map(files.map(f => [f, importsOf(f, known)]))
    assert.ok(graph.size > 100, `only ${graph.size} modules found under ${SRC}`)
    const cycles = importCycles(graph).map(group => group.map(f => relative(SRC, f)).join(' ↔ '))
    assert.deepEqual(cycles, [])
  })
})
