import assert from 'node:assert/strict'
import { windowUpdateDue, type ReceiveWindow } from '../../src/mesh/yamux-window-updates.js'

const KIB = 1024
const WINDOW = 256 * KIB

describe('yamux window updates at half the window', () => {
  const cases: Array<{ why: string, stream: ReceiveWindow, due: boolean }> = [
    { why: 'a new stream (its SYN still has to go out)', stream: { state: 0, recvWindow: WINDOW, recvWindowCapacity: WINDOW }, due: true },
    { why: 'an accepted stream (its ACK still has to go out)', stream: { state: 2, recvWindow: WINDOW, recvWindowCapacity: WINDOW - 10 }, due: true },
    { why: 'one small frame read on an open stream', stream: { state: 3, recvWindow: WINDOW, recvWindowCapacity: WINDOW - 200 }, due: false },
    { why: 'just under half the window read', stream: { state: 3, recvWindow: WINDOW, recvWindowCapacity: WINDOW / 2 + 1 }, due: false },
    { why: 'half the window read', stream: { state: 3, recvWindow: WINDOW, recvWindowCapacity: WINDOW / 2 }, due: true },
    { why: 'all of it read (the sender is blocked)', stream: { state: 3, recvWindow: WINDOW, recvWindowCapacity: 0 }, due: true },
    { why: 'a grown window, half of it read', stream: { state: 3, recvWindow: 4 * WINDOW, recvWindowCapacity: 2 * WINDOW }, due: true },
    { why: 'a stream the remote finished writing, little read', stream: { state: 4, recvWindow: WINDOW, recvWindowCapacity: WINDOW - 1 }, due: false }
  ]
  for (const c of cases) {
    it(`should ${c.due ? '' : 'not '}send one for ${c.why}`, () => {
      assert.equal(windowUpdateDue(c.stream), c.due)
    })
  }
})

describe('yamux window updates: flow control still works between two real nodes', function () {
  this.timeout(30_000)
  it('should move 8 MiB (32 initial windows) one way on one stream without stalling', async () => {
    const { generateKeyPair } = await import('@libp2p/crypto/keys')
    const { createMeshNode } = await import('../../src/mesh/node.js')
    const listen = ['/ip4/127.0.0.1/tcp/0']
    const [a, b] = await Promise.all([0, 1].map(async () => await createMeshNode({ privateKey: await generateKeyPair('Ed25519'), listen })))
    if (a == null || b == null) throw new Error('no nodes')
    await Promise.all([a.start(), b.start()])
    try {
      let received = 0
      const done = new Promise<void>((resolve, reject) => {
        void b.handle('/test/bulk/1', ({ stream }) => {
          void (async () => {
            // Read slowly now and then, so the window really runs down and must be refilled.
            let chunks = 0
            for await (const chunk of stream.source) {
              received += chunk.byteLength
              if (++chunks % 64 === 0) await new Promise(resolve => setTimeout(resolve, 1))
            }
            resolve()
          })().catch(reject)
        })
      })
      const stream = await a.dialProtocol(b.getMultiaddrs(), '/test/bulk/1')
      const TOTAL = 8 * 1024 * 1024
      const CHUNK = 16 * 1024
      await stream.sink((function * () { for (let sent = 0; sent < TOTAL; sent += CHUNK) yield new Uint8Array(CHUNK) })())
      await done
      assert.equal(received, TOTAL)
    } finally {
      await Promise.all([a.stop(), b.stop()])
    }
  })
})
