import { mkdir, stat } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { peerIdFromString } from '@libp2p/peer-id'
import type { MeshNode } from '../mesh/node.js'
import { silentLogger, type Logger } from '../log.js'
import { createLocalCatalogue, type LocalCatalogue } from './catalogue.js'
import { MAX_ANNOUNCED_FILES } from '../mesh/constants.js'
import { SHORT_DIGEST_HEX } from '../util/short-digest.js'
import type { ChunkFetcher } from './download.js'
import { NoHolderError, TargetExistsError } from './errors.js'
import type { PullEvent } from './events.js'
import { hashFile } from './hash-file.js'
import { findHolders, meshHoldings, type Holding, type SharingMember } from './holders.js'
import { ollamaName, writeIntoOllama } from './ollama-layout.js'
import type { SchedulePolicy } from './schedule.js'
import { registerModelsHandler, type ModelsHandler } from './serve.js'
import type { ShareRoot } from './scan.js'

export interface ModelSharingInit {
  node: MeshNode
  /** The other alive peers, from the membership view. */
  members: () => SharingMember[]
  /** Puts our short digests into our announcement. */
  announce: (files: string[]) => void
  roots: ShareRoot[]
  /** Where a pull writes by default (the models dir, which is shared, so what we pull we share). */
  modelsDir: string
  cacheFile?: string
  chunkSize?: number
  rescanIntervalMs?: number
  rateBytesPerSecond?: number
  maxUploads?: number
  /** Tests: a stand-in for the mesh chunk fetch, and scheduling knobs. */
  fetcher?: ChunkFetcher
  policy?: Partial<SchedulePolicy>
  onServed?: (event: { sha256: string, index: number, bytes: number, peer: string }) => void
  logger?: Logger
}

export interface PullOptions {
  signal: AbortSignal
  /** Directory to write into (default the models dir). */
  to?: string
  /** An Ollama models directory to add the pulled file to as `name:tag`. */
  intoOllama?: string
  onEvent?: (event: PullEvent) => void
}

export type PullDone = Extract<PullEvent, { type: 'done' }>

/** This peer's shared files as `GET /api/models/files` shows them. */
export interface FilesJson {
  files: Array<{ name: string, size: number, sha256: string, kind: string, path: string }>
  hashing: Array<{ name: string, size: number, kind: string, path: string }>
}

export interface ModelSharing {
  start: () => Promise<void>
  stop: () => Promise<void>
  readonly catalogue: LocalCatalogue
  readonly handler: () => ModelsHandler | undefined
  files: () => FilesJson
  holdings: (signal: AbortSignal) => Promise<{ holdings: Holding[], failed: Array<{ name: string, reason: string }> }>
  pull: (ref: string, options: PullOptions) => Promise<PullDone>
}

export function createModelSharing (init: ModelSharingInit): ModelSharing {
  const log = init.logger ?? silentLogger()
  const catalogue = createLocalCatalogue({
    roots: init.roots,
    ...(init.cacheFile != null ? { cacheFile: init.cacheFile } : {}),
    ...(init.chunkSize != null ? { chunkSize: init.chunkSize } : {}),
    ...(init.rescanIntervalMs != null ? { rescanIntervalMs: init.rescanIntervalMs } : {}),
    logger: log
  })
  let handler: ModelsHandler | undefined
  const onChange = (): void => {
    init.announce(catalogue.entries().slice(0, MAX_ANNOUNCED_FILES).map(e => e.sha256.slice(0, SHORT_DIGEST_HEX)))
  }

  const pull = async (ref: string, options: PullOptions): Promise<PullDone> => {
    const emit = options.onEvent ?? (() => {})
    const members = init.members()
    const found = await findHolders(init.node, members, ref, options.signal)
    if (found.holding == null) {
      const where = found.asked.length > 0 ? `asked ${found.asked.join(', ')}` : 'no other peer is in the mesh'
      const failed = found.failed.length > 0 ? `; not answering: ${found.failed.map(f => `${f.name} (${f.reason})`).join(', ')}` : ''
      throw new NoHolderError(`no peer holds a model file "${ref}" (${where}${failed})`)
    }
    const { file, holders } = found.holding
    emit({ type: 'found', name: file.name, sha256: file.sha256, size: file.size, holders: holders.map(h => ({ peer: h.peerId, name: h.name })), asked: found.asked })
    const dir = resolve(options.to ?? init.modelsDir)
    await mkdir(dir, { recursive: true })
    const { model, tag } = ollamaName(file.name)
    const target = join(dir, `${model}${tag !== 'latest' ? `-${tag}` : ''}.gguf`)
    const started = Date.now()
    let transferred = 0
    let resumedBytes = 0
    let sources: PullDone['sources'] = []
    if (await alreadyThere(target, file.sha256, file.size, options.signal)) {
      log.info(`${file.name} is already at ${target}`)
    } else {
      // The download machinery (fetch, schedule, partial files) is loaded by the first pull only:
      // most peers serve files and never pull one.
      const { downloadFile } = await import('./download.js')
      const result = await downloadFile({
        node: init.node,
        file,
        sources: holders.map(h => ({ peerId: peerIdFromString(h.peerId), name: h.name, load: h.load })),
        target,
        signal: options.signal,
        ...(init.fetcher != null ? { fetcher: init.fetcher } : {}),
        ...(init.policy != null ? { policy: init.policy } : {}),
        onEvent: emit,
        logger: log
      })
      transferred = result.transferred
      resumedBytes = result.resumedBytes
      sources = result.sources
    }
    const ollama = options.intoOllama != null ? await writeIntoOllama(options.intoOllama, file.name, target, file.sha256, file.size) : undefined
    // Pulled into a shared directory: shared from now on (the rescan hashes it in the background).
    catalogue.rescan().catch(() => {})
    const done: PullDone = { type: 'done', path: target, name: file.name, sha256: file.sha256, size: file.size, transferred, resumed_bytes: resumedBytes, seconds: (Date.now() - started) / 1000, sources, ...(ollama != null ? { ollama } : {}) }
    emit(done)
    return done
  }

  return {
    catalogue,
    handler: () => handler,
    async start () {
      if (handler != null) return
      handler = await registerModelsHandler(init.node, {
        catalogue,
        ...(init.rateBytesPerSecond != null ? { rateBytesPerSecond: init.rateBytesPerSecond } : {}),
        ...(init.maxUploads != null ? { maxUploads: init.maxUploads } : {}),
        ...(init.onServed != null ? { onServed: init.onServed } : {}),
        logger: log
      })
      catalogue.addEventListener('change', onChange)
      // Not awaited: hashing a large file must not delay the start (acceptance 3).
      catalogue.start()
    },
    async stop () {
      catalogue.removeEventListener('change', onChange)
      await handler?.unregister()
      handler = undefined
      await catalogue.stop()
    },
    files: () => ({
      files: catalogue.entries().map(e => ({ name: e.name, size: e.size, sha256: e.sha256, kind: e.kind, path: e.path })),
      hashing: catalogue.pending().map(p => ({ name: p.name, size: p.size, kind: p.kind, path: p.path }))
    }),
    holdings: async (signal) => await meshHoldings(init.node, init.members(), signal),
    pull
  }
}

/** A file already at `target` with the right hash is not pulled again; one with another hash is an error, never overwritten. */
async function alreadyThere (target: string, sha256: string, size: number, signal: AbortSignal): Promise<boolean> {
  const info = await stat(target).catch(() => undefined)
  if (info == null) return false
  if (info.size === size && (await hashFile(target, size > 0 ? size : 1, signal)).sha256 === sha256) return true
  throw new TargetExistsError(`${target} exists and is a different file; remove it or pull with --to another directory`)
}
