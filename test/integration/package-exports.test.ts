// What `npm pack` ships is what a user gets: the tarball is packed, unpacked into an empty project
// as node_modules/harombe-peer, and every name src/index.ts exports (values at run time, types in
// the declarations) must resolve from there. dist/ is built by `pretest`.
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { promisify } from 'node:util'
import ts from 'typescript'
import { REPO_ROOT } from '../helpers/spawn-peer.js'

const run = promisify(execFile)
const PACKAGE = 'harombe-peer'

/** Every name a module exports, types included, as the type checker sees it. */
function exportedNames (program: ts.Program, file: string, specifier?: string): string[] {
  const source = program.getSourceFile(file)
  assert.ok(source != null, `${file} is in the program`)
  const checker = program.getTypeChecker()
  let symbol = checker.getSymbolAtLocation(source)
  if (specifier != null) {
    // The module that `import … from '<specifier>'` in `file` resolves to.
    const declaration = source.statements.find(ts.isImportDeclaration)
    assert.ok(declaration != null, `${file} imports ${specifier}`)
    symbol = checker.getSymbolAtLocation(declaration.moduleSpecifier)
  }
  assert.ok(symbol != null, `${specifier ?? file} resolves to a module`)
  return checker.getExportsOfModule(symbol).map(s => s.name).sort()
}

/** Relative modules a built file loads (`from './x.js'`, `import './x.js'`, `import('./x.js')`), as paths. */
function relativeImports (file: string, text: string): string[] {
  const found = [...text.matchAll(/(?:\bfrom|\bimport)\s*\(?\s*['"](\.{1,2}\/[^'"]+)['"]/g)].map(m => m[1] ?? '')
  const declarations = file.endsWith('.d.ts')
  return found.map(spec => resolve(dirname(file), declarations ? spec.replace(/\.js$/, '.d.ts') : spec))
}

/** Walks the import graph from `entry`; returns the files it needs that are missing. */
async function missingFrom (entry: string): Promise<string[]> {
  const seen = new Set<string>()
  const missing: string[] = []
  const queue = [entry]
  for (let file = queue.pop(); file != null; file = queue.pop()) {
    if (seen.has(file)) continue
    seen.add(file)
    if (!existsSync(file)) {
      missing.push(file)
      continue
    }
    queue.push(...relativeImports(file, await readFile(file, 'utf8')))
  }
  assert.ok(seen.size > 10, `walked the graph from ${entry} (${seen.size} files)`)
  return missing
}

describe('the packed package', function () {
  this.timeout(120_000)
  let project: string
  let installed: string

  before(async () => {
    project = await mkdtemp(join(tmpdir(), 'harombe-pack-'))
    installed = join(project, 'node_modules', PACKAGE)
    await mkdir(installed, { recursive: true })
    // Scripts off: `prepare` would rebuild dist/ under the other tests of this run.
    const { stdout } = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', project], { cwd: REPO_ROOT })
    const [packed] = JSON.parse(stdout) as Array<{ filename: string }>
    assert.ok(packed != null, `npm pack reported a tarball: ${stdout.slice(0, 200)}`)
    await run('tar', ['-xzf', join(project, packed.filename), '-C', installed, '--strip-components=1'])
    // Its dependencies as an install would provide them: the repo's own node_modules, linked.
    for (const entry of await readdir(join(REPO_ROOT, 'node_modules'))) {
      if (entry !== PACKAGE && !entry.startsWith('.')) await symlink(join(REPO_ROOT, 'node_modules', entry), join(project, 'node_modules', entry))
    }
    await writeFile(join(project, 'package.json'), JSON.stringify({ name: 'empty-project', private: true, type: 'module' }))
  })
  after(async () => {
    await rm(project, { recursive: true, force: true })
  })

  it('should hold dist/ with every module and declaration its entry points load', async () => {
    assert.deepEqual(await missingFrom(join(installed, 'dist', 'index.js')), [], 'modules missing from the tarball')
    assert.deepEqual(await missingFrom(join(installed, 'dist', 'index.d.ts')), [], 'declarations missing from the tarball')
  })

  it('should export at run time every value src/index.ts exports', async () => {
    const source = Object.keys(await import('../../src/index.ts')).sort()
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', `const m = await import('${PACKAGE}'); console.log(JSON.stringify(Object.keys(m).sort()))`], { cwd: project })
    assert.deepEqual(JSON.parse(stdout), source)
    assert.ok(source.includes('createRemoteClient') && source.includes('UnauthorizedError'), `the client and its errors are exported: ${source.join(', ')}`)
  })

  it('should declare every name src/index.ts exports, types included', async () => {
    const srcProgram = ts.createProgram([join(REPO_ROOT, 'src', 'index.ts')], {
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      target: ts.ScriptTarget.ES2022,
      allowImportingTsExtensions: true,
      noEmit: true,
      skipLibCheck: true
    })
    const expected = exportedNames(srcProgram, join(REPO_ROOT, 'src', 'index.ts'))

    // A user's file in the empty project, resolving the package through its `exports` map.
    const user = join(project, 'user.ts')
    await writeFile(user, `import * as lib from '${PACKAGE}'\nexport type Lib = typeof lib\n`)
    const packedProgram = ts.createProgram([user], {
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      target: ts.ScriptTarget.ES2022,
      strict: true,
      noEmit: true,
      skipLibCheck: true,
      types: ['node']
    })
    const resolved = ts.resolveModuleName(PACKAGE, user, packedProgram.getCompilerOptions(), ts.sys, undefined, undefined, ts.ModuleKind.ESNext).resolvedModule
    assert.equal(resolved?.resolvedFileName, join(installed, 'dist', 'index.d.ts'), 'types come from the packed dist/index.d.ts')
    const diagnostics = ts.getPreEmitDiagnostics(packedProgram, packedProgram.getSourceFile(user)).map(d => ts.flattenDiagnosticMessageText(d.messageText, '\n'))
    assert.deepEqual(diagnostics, [], 'the user file type-checks against the packed declarations')
    assert.deepEqual(exportedNames(packedProgram, user, PACKAGE), expected)
    assert.ok(expected.includes('LlmClient') && expected.includes('StreamEvent'), `the client types are exported: ${expected.join(', ')}`)
  })
})
