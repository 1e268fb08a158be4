// Compiles src/ to dist/ and writes the stamp bin/harombe-peer.js compares with src/ mtimes.
import { execFileSync } from 'node:child_process'
import { rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
rmSync('dist', { recursive: true, force: true })
execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', 'tsconfig.build.json'], { stdio: 'inherit' })
writeFileSync('dist/.build-stamp', new Date().toISOString() + '\n')
