// Which build a peer process runs, decided as bin/harombe-peer.js decides it. No side effects:
// peer processes import this (procs.ts installs exit handlers that only the runner may have).
import { existsSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url))

/** What `bin/harombe-peer.js` will run right now: the compiled dist/ or src/ through tsx (same test as the bin). */
export function peerRuntime (): 'dist' | 'tsx' {
  const stamp = join(REPO_ROOT, 'dist', '.build-stamp')
  if (process.env.HAROMBE_FROM_SOURCE === '1' || !existsSync(stamp)) return 'tsx'
  return statSync(stamp).mtimeMs >= newestMtime(join(REPO_ROOT, 'src')) ? 'dist' : 'tsx'
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
