import { open, rename, rm, stat, type FileHandle } from 'node:fs/promises'
import { FileHashMismatchError } from './errors.js'
import { hashFile } from './hash-file.js'
import type { ChunkHashList } from './fetch.js'
import { resumePlan } from './schedule.js'

/** The file a pull writes into: `<target>.partial`, renamed to `<target>` once its sha256 is right. */
export interface PartialFile {
  readonly path: string
  /** Chunks already in the partial file with the right hash (from an earlier, interrupted pull). */
  readonly done: number[]
  readonly missing: number[]
  write: (index: number, data: Uint8Array) => Promise<void>
  /** Flushes, verifies the whole file's sha256 and renames it into place; a wrong hash deletes it. */
  finish: (signal: AbortSignal) => Promise<void>
  close: () => Promise<void>
}

export function partialPathOf (target: string): string {
  return `${target}.partial`
}

/**
 * Opens (or creates) the partial file for `list`. An existing one of the right size is resumed:
 * each of its chunks is hashed (off the event loop) and the ones that match are kept, so a pull
 * killed at any instant, even mid-write, loses at most the chunks it had not finished.
 */
export async function openPartialFile (target: string, list: ChunkHashList, signal: AbortSignal): Promise<PartialFile> {
  const path = partialPathOf(target)
  const existing = await stat(path).catch(() => undefined)
  let plan = { done: [] as number[], missing: list.chunks.map((_h, i) => i) }
  if (existing?.isFile() === true && existing.size === list.size) {
    const found = await hashFile(path, list.chunkSize, signal)
    plan = resumePlan(list.chunks, found.chunks)
  }
  const handle: FileHandle = await open(path, existing != null ? 'r+' : 'w+')
  // Sparse on every common file system: the size is reserved without writing zeros.
  if (existing?.size !== list.size) await handle.truncate(list.size)
  let closed = false
  const close = async (): Promise<void> => {
    if (closed) return
    closed = true
    await handle.close()
  }
  return {
    path,
    done: plan.done,
    missing: plan.missing,
    async write (index, data) {
      let offset = 0
      while (offset < data.byteLength) {
        const { bytesWritten } = await handle.write(data, offset, data.byteLength - offset, index * list.chunkSize + offset)
        offset += bytesWritten
      }
    },
    async finish (finishSignal) {
      await handle.sync()
      await close()
      const whole = await hashFile(path, list.chunkSize, finishSignal)
      if (whole.sha256 !== list.sha256) {
        await rm(path, { force: true })
        throw new FileHashMismatchError(`the assembled file's sha256 is ${whole.sha256}, expected ${list.sha256}; the partial file was deleted`)
      }
      await rename(path, target)
    },
    close
  }
}
