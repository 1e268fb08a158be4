// Starts peers that share model files, in this process, on 127.0.0.1 (mDNS off, `test` profile),
// and tears them down again. Holders get one generated GGUF, `shared-model.gguf`.
import { mkdir, mkdtemp, rm, utimes } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createPeer, type Peer } from '../../src/peer.js'
import type { SharingOptions } from '../../src/sharing/options.js'
import { writeFakeGguf } from './model-files.js'
import { pollUntil } from './wait.js'

/** A few tens of MB, in 1 MiB chunks so a pull has enough chunks to interrupt it halfway. */
export const SIZE = 24 * 1024 * 1024 + 12_345
export const CHUNK = 1024 * 1024
/** A whole second, so a test can put a file's time back exactly after it changed the bytes. */
export const MTIME_S = 1_700_000_000

export interface SharingPeer { peer: Peer, id: string, modelsDir: string, dataDir: string }

export interface SharingMesh {
  /** a and b hold the file, c holds nothing; resolves once c sees both announce it. */
  startThree: (holders?: Partial<SharingOptions>, puller?: Partial<SharingOptions>) => Promise<[SharingPeer, SharingPeer, SharingPeer]>
  /** sha256 of the holders' file. */
  sha: () => string
  stop: () => Promise<void>
}

export function createSharingMesh (): SharingMesh {
  const started: SharingPeer[] = []
  const dirs: string[] = []
  let sha = ''

  const startPeer = async (name: string, holds: boolean, sharing: Partial<SharingOptions>, bootstrap: string[]): Promise<SharingPeer> => {
    const dataDir = await mkdtemp(join(tmpdir(), `harombe-share-${name}-`))
    dirs.push(dataDir)
    const modelsDir = join(dataDir, 'models')
    await mkdir(modelsDir, { recursive: true })
    if (holds) {
      sha = await writeFakeGguf(join(modelsDir, 'shared-model.gguf'), SIZE, 42)
      await utimes(join(modelsDir, 'shared-model.gguf'), MTIME_S, MTIME_S)
    }
    const peer = createPeer({
      dataDir, name, apiPort: 0, listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, profile: 'test', bootstrap,
      sharing: { modelsDir, chunkSize: CHUNK, ...sharing }
    })
    const info = await peer.start()
    const s = { peer, id: info.peerId, modelsDir, dataDir }
    started.push(s)
    return s
  }

  return {
    sha: () => sha,
    async startThree (holders = {}, puller = {}) {
      const a = await startPeer('a', true, holders, [])
      const boot = [a.peer.info().meshAddrs[0] ?? '']
      const b = await startPeer('b', true, holders, boot)
      const c = await startPeer('c', false, puller, boot)
      await pollUntil(() => {
        const members = [...c.peer.membership().view().members.values()]
        return [a.id, b.id].every(id => members.some(m => m.peerId === id && m.state === 'alive' && m.announcement.files?.includes(sha.slice(0, 16)) === true))
      }, 20_000, 'c to see a and b announce the file')
      return [a, b, c]
    },
    async stop () {
      await Promise.all(started.splice(0).map(async s => { await s.peer.crash().catch(() => {}) }))
      await Promise.all(dirs.splice(0).map(async d => { await rm(d, { recursive: true, force: true }) }))
    }
  }
}
