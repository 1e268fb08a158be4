// One real peer in this process with the synthetic backend (src/backends/synthetic.ts), on
// 127.0.0.1 only, mDNS off and the fast `test` profile: for tests of the HTTP edge that need a
// backend but not a model, or a routing-only one. `stop` crashes the peer and removes its data directory.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createSyntheticBackend, type SyntheticBackendInit } from '../../src/backends/synthetic.js'
import { createPeer, type Peer, type PeerInit } from '../../src/peer.js'

export interface SyntheticPeer {
  peer: Peer
  /** Base URL of the HTTP API. */
  api: string
  stop: () => Promise<void>
}

/** `synthetic: 'none'` starts a routing-only peer (pass `bootstrap` in `init` to join another). */
export async function startSyntheticPeer (synthetic: SyntheticBackendInit | 'none' = {}, init: Partial<PeerInit> = {}): Promise<SyntheticPeer> {
  const dataDir = await mkdtemp(join(tmpdir(), 'harombe-synthetic-peer-'))
  const peer = createPeer({
    dataDir,
    name: 'synthetic-peer',
    ...(synthetic !== 'none' ? { backend: createSyntheticBackend(synthetic) } : {}),
    apiPort: 0,
    listen: ['/ip4/127.0.0.1/tcp/0'],
    mdns: false,
    profile: 'test',
    ...init
  })
  try {
    const info = await peer.start()
    return {
      peer,
      api: info.apiUrl,
      stop: async () => {
        await peer.crash()
        await rm(dataDir, { recursive: true, force: true })
      }
    }
  } catch (err) {
    await rm(dataDir, { recursive: true, force: true })
    throw err
  }
}
