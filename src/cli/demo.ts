import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createLogger } from '../log.js'
import { createBackend } from '../backends/index.js'
import type { Tier } from '../membership/types.js'
import { renderTable } from './table.js'
import { formatStatus } from './status.js'
import { CommandFailedError } from './errors.js'
import { waitForView } from '../wait-for-view.js'

export interface DemoFlags {
  keep?: boolean
}

/** Each peer's view must list all three before requests go out; loopback converges in well under this. */
const CONVERGE_TIMEOUT_MS = 10_000
const PROMPT = 'Say hello to the mesh.'

/**
 * Three peers in this process (tiers 0/1/2, the embedded tiny model), loopback only, mDNS off:
 * sends a completion from each peer for each tier and shows who served it and why.
 */
export async function runDemo (flags: DemoFlags): Promise<void> {
  const log = createLogger({ level: 'warn' })
  const root = await mkdtemp(join(tmpdir(), 'harombe-demo-'))
  const { createPeer } = await import('../peer.js')
  const names = ['demo-fast', 'demo-medium', 'demo-powerful']
  const peers: Array<Awaited<ReturnType<typeof createPeer>>> = []
  const stopAll = async (): Promise<void> => {
    await Promise.all(peers.map(async p => { await p.stop().catch(() => {}) }))
    await rm(root, { recursive: true, force: true })
  }
  try {
    process.stdout.write('starting 3 peers on 127.0.0.1 (tiers 0, 1, 2; embedded tiny model — its output is gibberish by design)\n')
    for (const [tier, name] of names.entries()) {
      const backend = await createBackend({ backend: 'embedded', models: [], dataDir: root, logger: log })
      const peer = createPeer({
        name,
        tier: tier as Tier,
        backend,
        dataDir: join(root, name),
        apiPort: 0,
        listen: ['/ip4/127.0.0.1/tcp/0'],
        mdns: false,
        bootstrap: peers.length > 0 ? [peers[0]?.info().meshAddrs[0] ?? ''] : undefined,
        logger: log
      })
      peers.push(peer)
      const info = await peer.start()
      process.stdout.write(`  ${name.padEnd(14)} tier ${tier}  ${info.apiUrl}\n`)
    }
    await Promise.all(peers.map(async p => {
      await waitForView(p, cl => cl.peers.filter(x => x.state === 'alive').length >= names.length, CONVERGE_TIMEOUT_MS, 'all demo peers alive')
    }))

    const rows: string[][] = []
    for (const from of peers) {
      for (const tier of [0, 1, 2] as Tier[]) {
        const started = performance.now()
        const served = await from.completions().complete(
          { messages: [{ role: 'user', content: PROMPT }], model: 'harombe-tiny', tier, max_tokens: 8 },
          { signal: AbortSignal.timeout(30_000) }
        )
        rows.push([from.info().name, String(tier), served.node.name, `${Math.round(performance.now() - started)} ms`, served.reason, JSON.stringify((served.result.message.content ?? '').slice(0, 40))])
      }
    }
    process.stdout.write('\n' + renderTable(['ASKED', 'TIER', 'SERVED BY', 'TIME', 'WHY', 'ANSWER (tiny model)'], rows) + '\n\n')
    process.stdout.write(formatStatus(peers[0]?.cluster() ?? { self: { peer_id: '', name: '', api: '', addrs: [] }, generated_at: '', peers: [] }) + '\n')

    if (flags.keep === true) {
      process.stdout.write('\nthe peers keep running; try:\n')
      process.stdout.write(`  curl ${peers[0]?.info().apiUrl}/v1/chat/completions -H 'content-type: application/json' -d '{"model":"harombe-tiny","messages":[{"role":"user","content":"hi"}]}'\n`)
      process.stdout.write('Ctrl-C stops them.\n')
      await new Promise<void>(resolve => {
        process.once('SIGINT', resolve)
        process.once('SIGTERM', resolve)
      })
    }
  } catch (err: any) {
    throw new CommandFailedError(`demo failed: ${err?.message ?? err}`)
  } finally {
    await stopAll()
  }
  process.stdout.write('demo finished: all peers stopped\n')
}
