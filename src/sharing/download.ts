import type { PeerId } from '@libp2p/interface'
import type { MeshNode } from '../mesh/node.js'
import { silentLogger, type Logger } from '../log.js'
import { CHUNK_TIMEOUT_MS, MAX_IN_FLIGHT_PER_SOURCE, MAX_IN_FLIGHT_TOTAL, MAX_SOURCE_FAILURES, SLOW_CHUNK_FACTOR, SLOW_CHUNK_FLOOR_MS } from './constants.js'
import { BadFrameError, ChunkHashMismatchError, SourcesExhaustedError } from './errors.js'
import type { PullEvent, SourceProgress } from './events.js'
import { fetchChunk, fetchChunkHashes, type ChunkHashList, type FetchOptions, type ReceivedChunk } from './fetch.js'
import { chunkCount, chunkLength } from './hash-file.js'
import { openPartialFile } from './partial-file.js'
import { afterOutcome, assign, isExcluded, median, type ChunkOutcome, type ChunkState, type SchedulePolicy, type SourceState } from './schedule.js'

export interface PullSource {
  peerId: PeerId
  name: string
  /** Announced inference load, (active + queued) / capacity. */
  load: number
}

/** How chunks are fetched; the mesh by default, a stand-in in tests that corrupt or stall a source. */
export type ChunkFetcher = (source: PullSource, sha256: string, index: number, length: number, options: FetchOptions) => Promise<ReceivedChunk>

export interface DownloadInit {
  node: MeshNode
  file: { name: string, sha256: string, size: number }
  sources: PullSource[]
  /** Final path; the partial file is `<target>.partial`. */
  target: string
  signal: AbortSignal
  policy?: Partial<SchedulePolicy>
  chunkTimeoutMs?: number
  fetcher?: ChunkFetcher
  /** How often progress is reported and slow chunks are looked for (default 250 ms). */
  tickMs?: number
  onEvent?: (event: PullEvent) => void
  logger?: Logger
}

export interface DownloadResult {
  path: string
  transferred: number
  resumedBytes: number
  seconds: number
  sources: SourceProgress[]
}

const DEFAULT_POLICY: SchedulePolicy = {
  maxPerSource: MAX_IN_FLIGHT_PER_SOURCE,
  maxTotal: MAX_IN_FLIGHT_TOTAL,
  maxFailures: MAX_SOURCE_FAILURES,
  slowFactor: SLOW_CHUNK_FACTOR,
  slowFloorMs: SLOW_CHUNK_FLOOR_MS
}

/** Chunk times the slow-source rule looks back on. */
const RECENT_CHUNK_TIMES = 32

/** Downloads `file` from `sources` into `target`, chunk by chunk, verified, resumable. */
export async function downloadFile (init: DownloadInit): Promise<DownloadResult> {
  const log = init.logger ?? silentLogger()
  const policy = { ...DEFAULT_POLICY, ...init.policy }
  const emit = init.onEvent ?? (() => {})
  const started = Date.now()
  const fetcher: ChunkFetcher = init.fetcher ?? (async (source, sha256, index, length, options) => await fetchChunk(init.node, source.peerId, sha256, index, length, options))
  const list = await hashListFrom(init)
  const partial = await openPartialFile(init.target, list, init.signal)
  try {
    const sizeOf = (index: number): number => chunkLength(list.size, list.chunkSize, index)
    const resumedBytes = partial.done.reduce((n, i) => n + sizeOf(i), 0)
    emit({ type: 'start', name: init.file.name, sha256: list.sha256, size: list.size, chunks: list.chunks.length, chunk_size: list.chunkSize, resumed_chunks: partial.done.length, resumed_bytes: resumedBytes, target: init.target })

    const chunks: ChunkState[] = list.chunks.map((_h, index) => ({ index, status: 'missing', attempts: [] }))
    for (const index of partial.done) (chunks[index] as ChunkState).status = 'done'
    const sources = new Map<string, SourceState>(init.sources.map(s => [s.peerId.toString(), { id: s.peerId.toString(), inFlight: 0, load: s.load, failures: 0, mismatches: 0, busyUntil: 0 }]))
    const byId = new Map(init.sources.map(s => [s.peerId.toString(), s]))
    const served = new Map<string, { chunks: number, bytes: number }>()
    const controllers = new Map<string, AbortController>()
    const times: number[] = []
    let verifiedBytes = resumedBytes
    let transferred = 0
    let remaining = chunks.filter(c => c.status !== 'done').length
    let failure: Error | undefined

    const progressOf = (): SourceProgress[] => [...sources.values()].map(s => ({
      peer: s.id,
      name: byId.get(s.id)?.name ?? s.id,
      chunks: served.get(s.id)?.chunks ?? 0,
      bytes: served.get(s.id)?.bytes ?? 0,
      in_flight: s.inFlight,
      failures: s.failures,
      mismatches: s.mismatches,
      excluded: isExcluded(s, policy)
    }))

    // Set by anything that may make new work possible (a chunk ended, a tick); never lost.
    let woken = false
    let resolveWake: (() => void) | undefined
    const wake = (): void => { woken = true; resolveWake?.() }
    const settle = (source: SourceState, outcome: ChunkOutcome): void => {
      sources.set(source.id, afterOutcome(sources.get(source.id) ?? source, outcome, Date.now()))
    }

    const run = async (chunk: ChunkState, source: PullSource, duplicate: boolean): Promise<void> => {
      const id = source.peerId.toString()
      const key = `${chunk.index}@${id}`
      const controller = new AbortController()
      controllers.set(key, controller)
      const startedAt = Date.now()
      chunk.attempts.push({ source: id, startedAt })
      chunk.status = 'inflight'
      let outcome: ChunkOutcome = 'failed'
      try {
        const received = await fetcher(source, list.sha256, chunk.index, sizeOf(chunk.index), { signal: AbortSignal.any([init.signal, controller.signal]), timeoutMs: init.chunkTimeoutMs ?? CHUNK_TIMEOUT_MS })
        if (received.sha256 !== list.chunks[chunk.index]) throw new ChunkHashMismatchError(`chunk ${chunk.index} from ${source.name} has sha256 ${received.sha256}, expected ${list.chunks[chunk.index] ?? '?'}`)
        if ((chunk.status as ChunkState['status']) !== 'done') {
          await partial.write(chunk.index, received.data)
          chunk.status = 'done'
          remaining--
          verifiedBytes += received.data.byteLength
          transferred += received.data.byteLength
          const s = served.get(id) ?? { chunks: 0, bytes: 0 }
          served.set(id, { chunks: s.chunks + 1, bytes: s.bytes + received.data.byteLength })
          times.push(Date.now() - startedAt)
          if (times.length > RECENT_CHUNK_TIMES) times.shift()
          // The other request for this chunk (a duplicate of a slow one) is no longer needed.
          for (const other of chunk.attempts) if (other.source !== id) controllers.get(`${chunk.index}@${other.source}`)?.abort(new Error('won elsewhere'))
        }
        outcome = 'ok'
      } catch (err: any) {
        if (init.signal.aborted) return
        if (controller.signal.aborted) { outcome = 'ok'; return } // lost the race to a duplicate: no fault
        outcome = err?.name === 'ChunkHashMismatchError' ? 'mismatch' : err?.name === 'BusyError' ? 'busy' : 'failed'
        if (outcome === 'mismatch' || outcome === 'failed') {
          emit({ type: 'penalised', peer: id, name: source.name, index: chunk.index, reason: String(err?.message ?? err) })
        }
        log.debug({ err, peer: id, index: chunk.index, duplicate }, 'chunk failed')
      } finally {
        controllers.delete(key)
        chunk.attempts = chunk.attempts.filter(a => a.source !== id)
        if (chunk.status === 'inflight' && chunk.attempts.length === 0) chunk.status = 'missing'
        const state = sources.get(id)
        if (state != null) settle(state, outcome)
        wake()
      }
    }

    const running = new Set<Promise<void>>()
    const pump = (): void => {
      for (const a of assign(chunks, [...sources.values()], Date.now(), median(times), policy)) {
        const source = byId.get(a.source)
        const chunk = chunks[a.index]
        if (source == null || chunk == null) continue
        const state = sources.get(a.source)
        if (state != null) state.inFlight++
        const p = run(chunk, source, a.duplicate)
        running.add(p)
        p.finally(() => running.delete(p)).catch(() => {})
      }
    }

    let lastBytes = transferred
    let lastAt = Date.now()
    let rate = 0
    const report = (): void => {
      const now = Date.now()
      if (now > lastAt) rate = ((transferred - lastBytes) * 1000) / (now - lastAt) * 0.5 + rate * 0.5
      lastBytes = transferred
      lastAt = now
      const left = list.size - verifiedBytes
      emit({ type: 'progress', bytes: verifiedBytes, total: list.size, transferred, rate: Math.round(rate), eta_s: rate > 0 ? Math.round(left / rate) : null, sources: progressOf() })
    }
    const ticker = setInterval(() => { report(); wake() }, init.tickMs ?? 250)
    try {
      while (remaining > 0) {
        init.signal.throwIfAborted()
        pump()
        if (running.size === 0) {
          const usable = [...sources.values()].filter(s => !isExcluded(s, policy))
          if (usable.length === 0) {
            failure = new SourcesExhaustedError(`every source failed before ${init.file.name} was complete (${remaining} of ${chunks.length} chunks missing): ${progressOf().map(s => `${s.name} ${s.failures} failure(s), ${s.mismatches} bad chunk(s)`).join('; ')}`)
            break
          }
        }
        if (!woken) await new Promise<void>(resolve => { resolveWake = resolve })
        resolveWake = undefined
        woken = false
      }
    } finally {
      clearInterval(ticker)
      for (const c of controllers.values()) c.abort(new Error('pull ended'))
      await Promise.allSettled([...running])
    }
    if (failure != null) throw failure
    init.signal.throwIfAborted()
    report()
    emit({ type: 'verifying', path: partial.path })
    await partial.finish(init.signal)
    return { path: init.target, transferred, resumedBytes, seconds: (Date.now() - started) / 1000, sources: progressOf() }
  } finally {
    await partial.close()
  }
}

/** The chunk hash list, from the first source that gives one consistent with the catalogue entry. */
async function hashListFrom (init: DownloadInit): Promise<ChunkHashList> {
  const errors: string[] = []
  for (const source of init.sources) {
    try {
      const list = await fetchChunkHashes(init.node, source.peerId, init.file.sha256, { signal: init.signal })
      if (list.size !== init.file.size || list.chunks.length !== chunkCount(list.size, list.chunkSize)) {
        throw new BadFrameError(`${source.name}'s hash list does not fit a ${init.file.size}-byte file`)
      }
      return list
    } catch (err: any) {
      if (init.signal.aborted) throw init.signal.reason
      errors.push(`${source.name}: ${err?.message ?? err}`)
    }
  }
  throw new SourcesExhaustedError(`no source gave the chunk hash list of ${init.file.name}: ${errors.join('; ')}`)
}
