// Compiles src/ to dist/, bundles the CLI, and writes the stamp bin/harombe-peer.js compares with
// src/ mtimes.
import { execFileSync } from 'node:child_process'
import { rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
rmSync('dist', { recursive: true, force: true })
execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', 'tsconfig.build.json'], { stdio: 'inherit' })
await bundleCli()
writeFileSync('dist/.build-stamp', new Date().toISOString() + '\n')

/**
 * The CLI as a few ESM files instead of ~600 modules. Measured on a routing-only peer: idle RSS
 * 85 → 75 MB and start to ready 730 → 360 ms, because every ESM module costs the loader a read,
 * a compile and a module record, and bundling also leaves out code nothing reaches. The library
 * (dist/index.js, what `import 'harombe-peer'` gets) stays the per-module tsc output.
 *
 * Everything is emitted into dist/ itself, not a subdirectory: version.ts finds package.json at
 * `../package.json` from its own file, and that must hold wherever its code lands. Lazy imports
 * stay lazy (each becomes its own chunk). node-llama-cpp stays outside: it loads native code
 * from its own directory. Without esbuild (it comes with tsx) the bin runs dist/cli/main.js.
 */
async function bundleCli () {
  let esbuild
  try {
    esbuild = require('esbuild')
  } catch {
    process.stderr.write('build: esbuild not found; the CLI runs unbundled from dist/cli/main.js\n')
    return
  }
  await esbuild.build({
    entryPoints: { 'cli-bundle': 'dist/cli/main.js' },
    outdir: 'dist',
    chunkNames: 'cli-bundle-[name]-[hash]',
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    // Node's own export conditions only: esbuild would otherwise also pick bundler-only `module` entries.
    conditions: [],
    // Class and function names stay as written: errors are matched on `name`.
    keepNames: true,
    // Every module's source stays in memory for the life of the process (V8 keeps it to compile
    // functions lazily). Without comments and indentation it is half the size, and ASCII only:
    // one non-ASCII character in a comment made V8 keep the whole 2.7 MB chunk as UTF-16, twice
    // its bytes. Identifiers are not renamed; the linked source map still points into src/.
    minifyWhitespace: true,
    minifySyntax: true,
    charset: 'ascii',
    legalComments: 'none',
    external: ['node-llama-cpp'],
    // CommonJS dependencies bundled into ESM still call require() for Node built-ins.
    banner: { js: "import { createRequire as __harombeRequire } from 'node:module'; const require = __harombeRequire(import.meta.url);" },
    sourcemap: 'linked',
    logLevel: 'warning'
  })
}
