import { stat } from 'node:fs/promises'
import { TypedEventEmitter } from 'main-event'
import { silentLogger, type Logger } from '../log.js'
import { linkSignals } from '../util/linked-abort.js'
import { CHUNK_SIZE, MAX_CATALOGUE_ENTRIES, RESCAN_INTERVAL_MS } from './constants.js'
import { hashFile, type FileHashes } from './hash-file.js'
import { loadHashCache, type HashCache } from './hash-cache.js'
import { scanShareRoots, type FoundFile, type ShareKind, type ShareRoot } from './scan.js'

/** A shared file, hashed and ready to serve. */
export interface CatalogueEntry extends FoundFile, FileHashes {}

export interface LocalCatalogueInit {
  roots: ShareRoot[]
  /** Where hashes are cached across restarts (absent: in memory only). */
  cacheFile?: string
  /** Default CHUNK_SIZE; tests use smaller chunks. */
  chunkSize?: number
  /** Default RESCAN_INTERVAL_MS. */
  rescanIntervalMs?: number
  logger?: Logger
}

export interface LocalCatalogueEvents {
  /** The set of hashed files changed (a file finished hashing, appeared or went away). */
  change: CustomEvent<CatalogueEntry[]>
}

/** What this peer shares. Scanning and hashing run in the background: `start` never waits for them. */
export interface LocalCatalogue extends TypedEventEmitter<LocalCatalogueEvents> {
  start: () => void
  stop: () => Promise<void>
  /** Hashed files, newest first. */
  entries: () => CatalogueEntry[]
  bySha256: (sha256: string) => CatalogueEntry | undefined
  /** Files found but not hashed yet. */
  pending: () => Array<{ name: string, path: string, size: number, kind: ShareKind }>
  /** Scans now and hashes what is new; resolves when done (tests; after a pull lands a file). */
  rescan: (signal?: AbortSignal) => Promise<void>
  /** True when the file behind `entry` still has the size and mtime it was hashed with. */
  unchanged: (entry: CatalogueEntry) => Promise<boolean>
}

class Catalogue extends TypedEventEmitter<LocalCatalogueEvents> implements LocalCatalogue {
  private readonly chunkSize: number
  private readonly log: Logger
  private readonly ready = new Map<string, CatalogueEntry>()
  private waiting: FoundFile[] = []
  private cache?: HashCache
  private running?: AbortController
  private timer?: NodeJS.Timeout
  /** One scan-and-hash pass at a time; a rescan asked for during one joins the next. */
  private pass?: Promise<void>

  constructor (private readonly init: LocalCatalogueInit) {
    super()
    this.chunkSize = init.chunkSize ?? CHUNK_SIZE
    this.log = init.logger ?? silentLogger()
  }

  start (): void {
    if (this.running != null) return
    this.running = new AbortController()
    const signal = this.running.signal
    const loop = (): void => {
      this.rescan(signal).catch(err => { if (!signal.aborted) this.log.warn({ err }, 'scanning shared model directories failed') })
        .finally(() => {
          if (signal.aborted) return
          this.timer = setTimeout(loop, this.init.rescanIntervalMs ?? RESCAN_INTERVAL_MS)
          this.timer.unref()
        })
    }
    loop()
  }

  async stop (): Promise<void> {
    this.running?.abort(new Error('catalogue stopped'))
    this.running = undefined
    clearTimeout(this.timer)
    await this.pass?.catch(() => {})
  }

  entries (): CatalogueEntry[] {
    return [...this.ready.values()].sort((a, b) => b.mtimeMs - a.mtimeMs)
  }

  bySha256 (sha256: string): CatalogueEntry | undefined {
    for (const entry of this.ready.values()) if (entry.sha256 === sha256) return entry
    return undefined
  }

  pending (): Array<{ name: string, path: string, size: number, kind: ShareKind }> {
    return this.waiting.map(f => ({ name: f.name, path: f.path, size: f.size, kind: f.kind }))
  }

  async unchanged (entry: CatalogueEntry): Promise<boolean> {
    const info = await stat(entry.path).catch(() => undefined)
    return info != null && info.size === entry.size && Math.floor(info.mtimeMs) === entry.mtimeMs
  }

  async rescan (signal?: AbortSignal): Promise<void> {
    const own = this.running?.signal
    // Linked by hand and released after the pass, not AbortSignal.any(): on Node 20 every call
    // would leave a WeakRef on the long-lived `own` for as long as the catalogue runs (issue 25:
    // two a minute from the rescan loop, which passes `own` itself).
    const sources = [...new Set([signal, own])].filter((s): s is AbortSignal => s != null)
    const linked = sources.length > 1 ? linkSignals(sources) : { signal: sources[0] ?? new AbortController().signal, release: () => {} }
    const previous = this.pass ?? Promise.resolve()
    const pass = previous.catch(() => {}).then(async () => { await this.scanAndHash(linked.signal) })
    this.pass = pass
    try {
      await pass
    } finally {
      linked.release()
    }
  }

  private async scanAndHash (signal: AbortSignal): Promise<void> {
    this.cache ??= this.init.cacheFile != null ? await loadHashCache(this.init.cacheFile) : await loadHashCache('')
    const found = (await scanShareRoots(this.init.roots, signal)).slice(0, MAX_CATALOGUE_ENTRIES)
    const seen = new Set(found.map(f => f.path))
    let changed = false
    for (const path of [...this.ready.keys()]) {
      const now = found.find(f => f.path === path)
      const entry = this.ready.get(path)
      if (now == null || entry == null || now.size !== entry.size || now.mtimeMs !== entry.mtimeMs) {
        this.ready.delete(path)
        changed = true
      }
    }
    this.waiting = found.filter(f => !this.ready.has(f.path))
    if (changed) this.emitChange()
    // One file at a time: hashing competes with inference for the CPU; smallest first, so the
    // catalogue fills quickly while a 40 GB file is still being read.
    for (const file of [...this.waiting].sort((a, b) => a.size - b.size)) {
      signal.throwIfAborted()
      let hashes = this.cache.get(file.path, file.size, file.mtimeMs, this.chunkSize)
      if (hashes == null) {
        const started = Date.now()
        hashes = await hashFile(file.path, this.chunkSize, signal)
        this.log.info(`hashed shared model ${file.name} (${(file.size / 1e6).toFixed(1)} MB) in ${Date.now() - started} ms`)
        // Changed while we read it: hashed again on the next pass.
        const after = await stat(file.path).catch(() => undefined)
        if (after == null || after.size !== file.size || Math.floor(after.mtimeMs) !== file.mtimeMs || hashes.size !== file.size) continue
        this.cache.set(file.path, file.mtimeMs, hashes)
      }
      this.ready.set(file.path, { ...file, ...hashes })
      this.waiting = this.waiting.filter(f => f.path !== file.path)
      this.emitChange()
    }
    if (this.init.cacheFile != null) await this.cache.save(seen)
  }

  private emitChange (): void {
    this.safeDispatchEvent('change', { detail: this.entries() })
  }
}

export function createLocalCatalogue (init: LocalCatalogueInit): LocalCatalogue {
  return new Catalogue(init)
}
