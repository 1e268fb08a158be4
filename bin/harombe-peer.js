#!/usr/bin/env node
// Runs the compiled CLI from dist/ (built by `npm install` via `prepare`, and before `npm test`).
// When a source file is newer than the build — someone is editing — it runs the TypeScript
// directly through tsx instead, so the command never runs stale code. tsx costs ~1 s of start-up.
import { existsSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const stamp = join(root, 'dist', '.build-stamp')

function newestSourceMtime (dir) {
  let newest = 0
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    const mtime = entry.isDirectory() ? newestSourceMtime(path) : statSync(path).mtimeMs
    if (mtime > newest) newest = mtime
  }
  return newest
}

const fresh = existsSync(stamp) && statSync(stamp).mtimeMs >= newestSourceMtime(join(root, 'src'))
if (fresh && process.env.HAROMBE_FROM_SOURCE !== '1') {
  // The bundle (scripts/build.mjs) starts in half the time and memory; the per-module build is
  // the fallback when esbuild was not there to make it.
  await import(existsSync(join(root, 'dist', 'cli-bundle.js')) ? '../dist/cli-bundle.js' : '../dist/cli/main.js')
} else {
  const { register } = await import('tsx/esm/api')
  register()
  await import('../src/cli/main.ts')
}
