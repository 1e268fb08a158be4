import { homedir } from 'node:os'
import { join } from 'node:path'
import type { Member } from '../membership/types.js'
import type { ChunkFetcher } from './download.js'
import type { SharingMember } from './holders.js'
import type { SchedulePolicy } from './schedule.js'
import type { ShareRoot } from './scan.js'

/** Model sharing as a peer is configured with it (`start --models-dir --share-dir --share-ollama --share-rate`). */
export interface SharingOptions {
  /** Default `<data-dir>/models`: the generated tiny model and whatever this peer pulled. */
  modelsDir: string
  shareDirs?: string[]
  /** Ollama's models directory, when its blobs are shared. */
  ollamaDir?: string
  /** Upload rate over all uploads, bytes/s; absent = unlimited. */
  rateBytesPerSecond?: number
  maxUploads?: number
  /** Tests: smaller chunks, faster rescans, a stand-in fetcher, scheduling knobs. */
  chunkSize?: number
  rescanIntervalMs?: number
  fetcher?: ChunkFetcher
  policy?: Partial<SchedulePolicy>
}

/** Ollama's default store: `$OLLAMA_MODELS`, else `~/.ollama/models`. */
export function defaultOllamaDir (env: NodeJS.ProcessEnv = process.env): string {
  return env.OLLAMA_MODELS != null && env.OLLAMA_MODELS !== '' ? env.OLLAMA_MODELS : join(homedir(), '.ollama', 'models')
}

/** Only these directories are ever shared. */
export function shareRoots (options: SharingOptions): ShareRoot[] {
  return [
    { dir: options.modelsDir, kind: 'models-dir' },
    ...(options.shareDirs ?? []).map(dir => ({ dir, kind: 'share-dir' as const })),
    ...(options.ollamaDir != null ? [{ dir: options.ollamaDir, kind: 'ollama' as const }] : [])
  ]
}

/** The alive peers other than `selfId`, as holder lookup needs them. */
export function sharingMembers (members: Iterable<Member>, selfId: string): SharingMember[] {
  const out: SharingMember[] = []
  for (const m of members) {
    if (m.state !== 'alive' || m.peerId === selfId) continue
    const { load, files, name } = m.announcement
    out.push({ peerId: m.peerId, name, ...(files != null ? { files } : {}), load: (load.active + load.queued) / Math.max(1, load.capacity) })
  }
  return out
}
