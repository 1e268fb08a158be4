import assert from 'node:assert/strict'
import { readFileSync, readdirSync } from 'node:fs'
import { builtinModules } from 'node:module'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))

/** Every .ts/.js/.mjs file under `dir`. */
function sourceFiles (dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap(e => {
    const path = join(dir, e.name)
    if (e.isDirectory()) return sourceFiles(path)
    return /\.(ts|js|mjs)$/.test(e.name) ? [path] : []
  })
}

/** The package a bare specifier names: `@scope/name/sub` → `@scope/name`, `name/sub` → `name`. */
export function packageOf (specifier: string): string | undefined {
  if (specifier.startsWith('.') || specifier.startsWith('/') || specifier.startsWith('node:')) return undefined
  const parts = specifier.split('/')
  const name = specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]
  return name == null || builtinModules.includes(name) ? undefined : name
}

/**
 * Module specifiers a file loads at run time: static imports and re-exports (not `import type`),
 * side-effect imports, dynamic `import('…')` and `createRequire(…)('…')`-style calls through a
 * function named require…. Comments are stripped first, so prose naming a package counts for nothing.
 */
export function runtimeSpecifiers (source: string): string[] {
  const code = source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '')
  const found: string[] = []
  const patterns = [
    // import x from 'p' · import { a } from 'p' · import * as x from 'p' · export … from 'p' (not type-only)
    /^\s*(?:import|export)\s+(?!type\s)[^'";]*?\sfrom\s+['"]([^'"]+)['"]/gm,
    // import 'p'
    /^\s*import\s+['"]([^'"]+)['"]/gm,
    // import('p') · require('p') · requireFromHere('p'): a call, not `typeof import('p')`
    /(?<!typeof\s)\b(?:import|require\w*)\(\s*['"]([^'"]+)['"]\s*\)/g
  ]
  for (const re of patterns) for (const m of code.matchAll(re)) if (m[1] != null) found.push(m[1])
  return found
}

describe('declared dependencies', () => {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string> }
  const declared = Object.keys(pkg.dependencies)
  const files = [...sourceFiles(join(ROOT, 'src')), ...sourceFiles(join(ROOT, 'bin'))]
  const usedBy = new Map<string, string[]>()
  for (const file of files) {
    for (const spec of runtimeSpecifiers(readFileSync(file, 'utf8'))) {
      const name = packageOf(spec)
      if (name != null) usedBy.set(name, [...(usedBy.get(name) ?? []), file.slice(ROOT.length)])
    }
  }

  for (const name of declared) {
    it(`should import ${name} at run time from src/ or bin/ (or it is not a runtime dependency)`, () => {
      assert.ok(usedBy.has(name), `${name} is in package.json "dependencies" but nothing in src/ or bin/ loads it`)
    })
  }

  it('should declare every package src/ and bin/ load at run time', () => {
    const undeclared = [...usedBy.keys()].filter(name => !declared.includes(name)).map(name => `${name} (${usedBy.get(name)?.[0] ?? ''})`)
    assert.deepEqual(undeclared, [], 'loaded but not in "dependencies": it works only while another package happens to bring it')
  })

  describe('the scanner', () => {
    const rows: Array<{ code: string, expect: string[] }> = [
      { code: "import { a } from 'pkg-a'", expect: ['pkg-a'] },
      { code: "import * as lp from 'it-length-prefixed'", expect: ['it-length-prefixed'] },
      { code: "import Fastify, { type X } from 'fastify'", expect: ['fastify'] },
      { code: "import type { X } from 'only-types'", expect: [] },
      { code: "export { a } from '@scope/pkg/sub'", expect: ['@scope/pkg/sub'] },
      { code: "import 'side-effect'", expect: ['side-effect'] },
      { code: "const m = await import('lazy')", expect: ['lazy'] },
      { code: "const p = requireFromHere('prom-client') as typeof import('prom-client')", expect: ['prom-client'] },
      { code: "// import { a } from 'commented'\n/* import 'block' */", expect: [] }
    ]
    for (const row of rows) {
      it(`should find ${JSON.stringify(row.expect)} in ${JSON.stringify(row.code)}`, () => {
        assert.deepEqual(runtimeSpecifiers(row.code), row.expect)
      })
    }
    it('should name packages, not paths or built-ins', () => {
      assert.deepEqual(['@scope/pkg/sub', 'uint8arrays/concat', './local.js', 'node:fs', 'fs'].map(packageOf), ['@scope/pkg', 'uint8arrays', undefined, undefined, undefined])
    })
  })
})
