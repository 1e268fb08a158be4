import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { createPeer, type Peer, type PeerInit } from '../../src/peer.js'
import { createLogger, type Logger } from '../../src/log.js'
import { createMeshNode, type MeshNode } from '../../src/mesh/node.js'
import { MeshKeyError, readMeshKey, writeMeshKey } from '../../src/mesh/mesh-key.js'
import { waitForView } from '../helpers/wait.js'

/** The bound for a wrong-key dial to fail; measured ~5–30 ms on loopback. */
const WRONG_KEY_FAILS_WITHIN_MS = 2_000
/** Without the fast mismatch check about half of wrong-key dials hung until their timeout; this many makes a pass by luck ~1 %. */
const WRONG_KEY_DIALS = 8

/** A logger whose lines a test can wait for, instead of sleeping and then grepping. */
function captureLog (): { logger: Logger, lines: string[], waitFor: (pattern: RegExp, timeoutMs: number) => Promise<string> } {
  const lines: string[] = []
  const waiters = new Set<() => void>()
  const stream = {
    write (line: string): boolean {
      lines.push(line)
      for (const wake of waiters) wake()
      return true
    }
  }
  const logger = createLogger({ level: 'debug', stream: stream as unknown as NodeJS.WritableStream })
  const waitFor = async (pattern: RegExp, timeoutMs: number): Promise<string> => {
    const found = (): string | undefined => lines.find(l => pattern.test(l))
    const now = found()
    if (now != null) return now
    return await new Promise((resolve, reject) => {
      const wake = (): void => {
        const line = found()
        if (line == null) return
        clearTimeout(timer)
        waiters.delete(wake)
        resolve(line)
      }
      const timer = setTimeout(() => {
        waiters.delete(wake)
        reject(new Error(`no log line matching ${pattern} within ${timeoutMs} ms; got:\n${lines.join('')}`))
      }, timeoutMs)
      waiters.add(wake)
    })
  }
  return { logger, lines, waitFor }
}

describe('private mesh (--mesh-key)', function () {
  this.timeout(30_000)
  let root: string
  let key: Uint8Array
  let otherKey: Uint8Array
  const peers: Peer[] = []
  const nodes: MeshNode[] = []

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'harombe-pnet-'))
    // Through the files `init` writes, so the test covers the format users get.
    await writeMeshKey(join(root, 'mesh.key'), { overwrite: false })
    await writeMeshKey(join(root, 'other.key'), { overwrite: false })
    key = await readMeshKey(join(root, 'mesh.key'))
    otherKey = await readMeshKey(join(root, 'other.key'))
  })
  afterEach(async () => {
    await Promise.all(peers.splice(0).map(async p => { await p.crash().catch(() => {}) }))
    await Promise.all(nodes.splice(0).map(async n => { try { await n.stop() } catch {} }))
    await rm(root, { recursive: true, force: true })
  })

  async function startPeer (init: Omit<PeerInit, 'dataDir'>): Promise<Peer> {
    const peer = createPeer({ apiPort: 0, listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, profile: 'test', ...init, dataDir: join(root, init.name ?? 'x') })
    peers.push(peer)
    await peer.start()
    return peer
  }

  const meshAddr = (p: Peer): string => p.info().meshAddrs[0] ?? ''
  const openConnections = (from: Peer, to: Peer): number =>
    from.mesh().getConnections().filter(c => c.remotePeer.toString() === to.info().peerId && c.status === 'open').length
  const inView = (viewer: Peer, member: Peer): boolean => viewer.cluster().peers.some(p => p.peer_id === member.info().peerId)

  /** Dials directly and returns how long the failure took, or throws when the dial succeeds. */
  async function timedFailingDial (from: Peer, to: Peer): Promise<{ ms: number, message: string }> {
    const started = performance.now()
    try {
      // Far above the bound, so a hang shows up as a measured time instead of a mocha timeout.
      await from.mesh().dial(to.mesh().getMultiaddrs()[0] ?? meshAddr(to) as any, { signal: AbortSignal.timeout(10_000) })
    } catch (err: any) {
      return { ms: performance.now() - started, message: String(err?.message ?? err) }
    }
    throw new Error(`${from.info().name} connected to ${to.info().name} across different mesh keys`)
  }

  it('should let two peers with the same key join each other', async () => {
    const a = await startPeer({ name: 'a', meshKey: key })
    const b = await startPeer({ name: 'b', meshKey: key, bootstrap: [meshAddr(a)] })
    const bothAlive = (cl: { peers: Array<{ name: string, state: string }> }): boolean => ['a', 'b'].every(n => cl.peers.some(p => p.name === n && p.state === 'alive'))
    await waitForView(a, bothAlive, 5_000, 'b in a\'s view')
    await waitForView(b, bothAlive, 5_000, 'a in b\'s view')
    assert.equal(openConnections(b, a), 1, 'b holds a connection to a')
  })

  it('should keep an outsider without a key out, in both dial directions', async () => {
    const a = await startPeer({ name: 'a', meshKey: key })
    const b = await startPeer({ name: 'b', meshKey: key, bootstrap: [meshAddr(a)] })
    await waitForView(b, cl => cl.peers.some(p => p.name === 'a' && p.state === 'alive'), 5_000, 'a in b\'s view')
    const outsiderLog = captureLog()
    const outsider = await startPeer({ name: 'outsider', bootstrap: [meshAddr(a)], logger: outsiderLog.logger })

    // The outsider's own re-dials fail and say why; a key holder dialing it fails too.
    const line = await outsiderLog.waitFor(/mesh connection to .* failed: .*private network key mismatch\?/, 5_000)
    assert.match(line, new RegExp(a.info().peerId), 'the line names the peer it tried')
    const fromOutsider = await timedFailingDial(outsider, a)
    const toOutsider = await timedFailingDial(b, outsider)
    assert.match(toOutsider.message, /mesh key|private network/, 'the key holder explains its failed dial')
    // pnet gives a peer without the key 1 s to send its nonce: the slowest way this can fail.
    assert.ok(fromOutsider.ms < WRONG_KEY_FAILS_WITHIN_MS && toOutsider.ms < WRONG_KEY_FAILS_WITHIN_MS, `dials failed in ${Math.round(fromOutsider.ms)} and ${Math.round(toOutsider.ms)} ms`)

    for (const member of [a, b]) {
      assert.equal(openConnections(member, outsider) + openConnections(outsider, member), 0, `no connection between ${member.info().name} and the outsider`)
      assert.ok(!inView(member, outsider), `outsider not in ${member.info().name}'s view`)
      assert.ok(!inView(outsider, member), `${member.info().name} not in the outsider's view`)
    }
    assert.deepEqual(outsider.cluster().peers.map(p => p.name), ['outsider'])
  })

  it(`should fail a dial with a wrong key within ${WRONG_KEY_FAILS_WITHIN_MS} ms and log why`, async () => {
    const a = await startPeer({ name: 'a', meshKey: key })
    const log = captureLog()
    const started = performance.now()
    const intruder = await startPeer({ name: 'intruder', meshKey: otherKey, bootstrap: [meshAddr(a)], logger: log.logger })
    const line = await log.waitFor(/mesh connection to .* failed: private network key mismatch\?/, 10_000)
    const toLog = performance.now() - started
    assert.ok(toLog < WRONG_KEY_FAILS_WITHIN_MS, `start → log line took ${Math.round(toLog)} ms: ${line}`)
    assert.ok(line.includes(a.info().peerId) && line.includes(meshAddr(a).split('/p2p/')[0] ?? ''), `the line names peer and address: ${line}`)

    const times: number[] = []
    for (let i = 0; i < WRONG_KEY_DIALS; i++) {
      const { ms, message } = await timedFailingDial(intruder, a)
      assert.match(message, /private network key mismatch\?/, `dial ${i}`)
      times.push(Math.round(ms))
    }
    assert.ok(times.every(ms => ms < WRONG_KEY_FAILS_WITHIN_MS), `wrong-key dials took ${times.join(', ')} ms`)
    assert.equal(openConnections(intruder, a) + openConnections(a, intruder), 0, 'no connection either way')
    assert.ok(!inView(a, intruder), 'intruder not in a\'s view')
    // Re-dials every 300 ms must not repeat the warning for the same peer and reason.
    assert.equal(log.lines.filter(l => /mesh connection to .* failed/.test(l)).length, 1, log.lines.join(''))
  })

  it('should warn on the listening side about an inbound connection with the wrong key, once per host', async () => {
    const log = captureLog()
    const listener = await createMeshNode({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'], meshKey: key, logger: log.logger })
    const dialer = await createMeshNode({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'], meshKey: otherKey })
    nodes.push(listener, dialer)
    await Promise.all([listener.start(), dialer.start()])
    for (let i = 0; i < 3; i++) {
      await assert.rejects(dialer.dial(listener.getMultiaddrs()[0] as any, { signal: AbortSignal.timeout(10_000) }), /private network key mismatch\?/)
    }
    const line = await log.waitFor(/mesh connection from \/ip4\/127\.0\.0\.1\/tcp\/\d+ rejected: private network key mismatch\?/, 2_000)
    assert.match(line, /WARN|warn/)
    assert.equal(log.lines.filter(l => /rejected/.test(l)).length, 1, `one warning for three attempts: ${log.lines.join('')}`)
  })

  it('should refuse a key file that is not a pnet v1 key, naming the file', async () => {
    const file = join(root, 'bad.key')
    await writeFile(file, '/key/swarm/psk/1.0.0/\n/base16/\nnot-hex\n')
    await assert.rejects(readMeshKey(file), (err: any) => err instanceof MeshKeyError && err.message.includes(file))
    await assert.rejects(readMeshKey(join(root, 'missing.key')), (err: any) => err instanceof MeshKeyError && /no such file/.test(err.message))
  })
})
