import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createLogger } from '../log.js'
import { createBackend } from '../backends/index.js'
import type { Tier } from '../membership/types.js'
import { renderTable } from './table.js'
import { formatStatus } from './status-table.js'
import { painter, shouldColor } from './format.js'
import { CommandFailedError } from './errors.js'
import { waitForView } from '../wait-for-view.js'

export interface DemoFlags {
  keep?: boolean
  json?: boolean
}

/** One routed request of the demo, as `demo --json` prints it. */
interface DemoRequest {
  asked: string
  tier: Tier
  served_by: string
  ms: number
  reason: string
  answer: string
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
  // With --json, stdout is the JSON document alone; the narration goes to stderr.
  const say = (text: string): void => { (flags.json === true ? process.stderr : process.stdout).write(text) }
  const root = await mkdtemp(join(tmpdir(), 'harombe-demo-'))
  const { createPeer } = await import('../peer.js')
  const names = ['demo-fast', 'demo-medium', 'demo-powerful']
  const peers: Array<Awaited<ReturnType<typeof createPeer>>> = []
  const stopAll = async (): Promise<void> => {
    await Promise.all(peers.map(async p => { await p.stop().catch(() => {}) }))
    await rm(root, { recursive: true, force: true })
  }
  try {
    say('starting 3 peers on 127.0.0.1 (tiers 0, 1, 2; embedded tiny model — its output is gibberish by design)\n')
    for (const [tier, name] of names.entries()) {
      const backend = await createBackend({ backend: 'embedded', dataDir: root, logger: log })
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
      say(`  ${name.padEnd(14)} tier ${tier}  ${info.apiUrl}\n`)
    }
    await Promise.all(peers.map(async p => {
      await waitForView(p, cl => cl.peers.filter(x => x.state === 'alive').length >= names.length, CONVERGE_TIMEOUT_MS, 'all demo peers alive')
    }))

    const requests: DemoRequest[] = []
    for (const from of peers) {
      for (const tier of [0, 1, 2] as Tier[]) {
        const started = performance.now()
        const served = await from.completions().complete(
          { messages: [{ role: 'user', content: PROMPT }], model: 'harombe-tiny', tier, max_tokens: 8 },
          { signal: AbortSignal.timeout(30_000) }
        )
        requests.push({ asked: from.info().name, tier, served_by: served.node.name, ms: Math.round(performance.now() - started), reason: served.reason, answer: served.result.message.content ?? '' })
      }
    }
    const cluster = peers[0]?.cluster() ?? { self: { peer_id: '', name: '', api: '', addrs: [] }, generated_at: '', peers: [], nodes: [] }
    if (flags.json === true) {
      const started = peers.map(p => ({ name: p.info().name, peer_id: p.info().peerId, api: p.info().apiUrl }))
      process.stdout.write(JSON.stringify({ peers: started, requests, cluster }, null, 2) + '\n')
    } else {
      const rows = requests.map(r => [r.asked, String(r.tier), r.served_by, `${r.ms} ms`, r.reason, JSON.stringify(r.answer.slice(0, 40))])
      process.stdout.write('\n' + renderTable(['ASKED', 'TIER', 'SERVED BY', 'TIME', 'WHY', 'ANSWER (tiny model)'], rows) + '\n\n')
      process.stdout.write(formatStatus(cluster, painter(shouldColor(process.stdout))) + '\n')
    }

    if (flags.keep === true) {
      say('\nthe peers keep running; try:\n')
      say(`  curl ${peers[0]?.info().apiUrl}/v1/chat/completions -H 'content-type: application/json' -d '{"model":"harombe-tiny","messages":[{"role":"user","content":"hi"}]}'\n`)
      say('Ctrl-C stops them.\n')
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
  say('demo finished: all peers stopped\n')
}
