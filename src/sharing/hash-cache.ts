import { mkdir, readFile, rename, writeFile } from 'node:fs/promises'
import { dirname } from 'node:path'
import type { FileHashes } from './hash-file.js'

/** One cached result: valid while the file keeps this size and modification time. */
interface CachedHashes extends FileHashes {
  mtimeMs: number
}

/**
 * sha256 and chunk hashes of shared files, kept across restarts in one JSON file, keyed by path
 * and valid for one (size, mtime): a file is hashed once, not on every start.
 */
export interface HashCache {
  get: (path: string, size: number, mtimeMs: number, chunkSize: number) => FileHashes | undefined
  set: (path: string, mtimeMs: number, hashes: FileHashes) => void
  /** Drops every path not in `keep` (files that were removed), then writes the file. */
  save: (keep: Iterable<string>) => Promise<void>
}

export async function loadHashCache (file: string): Promise<HashCache> {
  let entries: Record<string, CachedHashes> = {}
  try {
    const parsed = JSON.parse(await readFile(file, 'utf8')) as unknown
    if (parsed != null && typeof parsed === 'object') entries = parsed as Record<string, CachedHashes>
  } catch {
    // Absent or unreadable: the files are hashed again, nothing is lost but time.
  }
  let writing: Promise<void> = Promise.resolve()
  return {
    get (path, size, mtimeMs, chunkSize) {
      const hit = entries[path]
      if (hit == null || hit.size !== size || hit.mtimeMs !== mtimeMs || hit.chunkSize !== chunkSize) return undefined
      if (typeof hit.sha256 !== 'string' || !Array.isArray(hit.chunks)) return undefined
      return { sha256: hit.sha256, size: hit.size, chunkSize: hit.chunkSize, chunks: hit.chunks }
    },
    set (path, mtimeMs, hashes) {
      entries[path] = { ...hashes, mtimeMs }
    },
    async save (keep) {
      const wanted = new Set(keep)
      for (const path of Object.keys(entries)) if (!wanted.has(path)) delete entries[path]
      const text = JSON.stringify(entries)
      // Serialised, and atomic (temp + rename): a crash mid-write never leaves half a cache.
      writing = writing.then(async () => {
        await mkdir(dirname(file), { recursive: true })
        await writeFile(`${file}.tmp`, text)
        await rename(`${file}.tmp`, file)
      }).catch(() => {})
      await writing
    }
  }
}
