// One benchmark peer in its own process: `createPeer` with the in-process synthetic backend (or
// none), on 127.0.0.1 only, printing the CLI's ready line. Config is one JSON argument
// (BenchPeerInit in procs.ts). SIGTERM leaves the mesh gracefully; kill -9 simulates a crash.
//
// Like bin/harombe-peer.js it loads the compiled dist/ when that is fresh (the same code the CLI
// peers run, and a faster start), else src/ through tsx.
import type * as PeerModule from '../../src/peer.js'
import type * as LogModule from '../../src/log.js'
import type * as SyntheticModule from '../../src/backends/synthetic.js'
import type { BenchPeerInit } from './procs.js'
import { peerRuntime } from './runtime.js'

const init = JSON.parse(process.argv[2] ?? '{}') as BenchPeerInit
const root = peerRuntime() === 'dist' ? '../../dist' : '../../src'
const [{ createPeer }, { createLogger }, { createSyntheticBackend }] = await Promise.all([
  import(`${root}/peer.js`) as Promise<typeof PeerModule>,
  import(`${root}/log.js`) as Promise<typeof LogModule>,
  import(`${root}/backends/synthetic.js`) as Promise<typeof SyntheticModule>
])

const backend = init.synthetic != null ? createSyntheticBackend(init.synthetic) : undefined
const peer = createPeer({
  dataDir: init.dataDir,
  name: init.name,
  backend,
  apiPort: 0,
  listen: ['/ip4/127.0.0.1/tcp/0'],
  mdns: false,
  bootstrap: init.bootstrap,
  token: init.token,
  maxTokensCap: init.maxTokensCap,
  // As `start` does: with only a bootstrap list, the ready line means the mesh was reached.
  requireBootstrap: (init.bootstrap ?? []).length > 0,
  logger: createLogger({ level: 'warn' })
})

let stopping = false
const shutdown = (): void => {
  if (stopping) return
  stopping = true
  // Same bound as the CLI: a graceful stop that hangs must not hold the benchmark.
  setTimeout(() => process.exit(0), 4_500).unref()
  peer.stop().then(() => process.exit(0), () => process.exit(1))
}
process.on('SIGTERM', shutdown)
// With --expose-gc, SIGUSR2 collects garbage: a benchmark then reads the heap that is really live
// (nodejs_heap_size_used_bytes in /metrics), to tell a leak from a heap that has not been collected yet.
const gc = (globalThis as { gc?: () => void }).gc
if (gc != null) process.on('SIGUSR2', () => { gc() })
process.on('SIGINT', shutdown)

const info = await peer.start()
process.stdout.write(`harombe-peer ready name=${info.name} peer=${info.peerId} api=${info.apiUrl} mesh=${info.meshAddrs.join(',')}\n`)
