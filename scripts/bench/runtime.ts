// Which build a peer process runs, decided as bin/harombe-peer.js decides it. No side effects:
// peer processes import this (procs.ts installs exit handlers that only the runner may have).
import { existsSync, readdirSync, statSync } from 'node:fs'
import { join, resolve, sep } from 'node:path'
import { fileURLToPath } from 'node:url'

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url))

/**
 * The checkout whose CLI the spawned peers run: this one, or `HAROMBE_BENCH_PEER_ROOT` (another
 * worktree with its own build, e.g. the commit before a change), so before and after are measured
 * by the same harness in one session. Results still go to this checkout's bench/results.
 */
export const PEER_ROOT = process.env.HAROMBE_BENCH_PEER_ROOT != null && process.env.HAROMBE_BENCH_PEER_ROOT !== ''
  ? resolve(process.env.HAROMBE_BENCH_PEER_ROOT) + sep
  : REPO_ROOT

/** What `bin/harombe-peer.js` will run right now: the compiled dist/ or src/ through tsx (same test as the bin). */
export function peerRuntime (): 'dist' | 'tsx' {
  const stamp = join(PEER_ROOT, 'dist', '.build-stamp')
  if (process.env.HAROMBE_FROM_SOURCE === '1' || !existsSync(stamp)) return 'tsx'
  return statSync(stamp).mtimeMs >= newestMtime(join(PEER_ROOT, 'src')) ? 'dist' : 'tsx'
}

function newestMtime (dir: string): number {
  let newest = 0
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    const mtime = entry.isDirectory() ? newestMtime(path) : statSync(path).mtimeMs
    if (mtime > newest) newest = mtime
  }
  return newest
}
