import assert from 'node:assert/strict'
import { connect } from 'node:net'
import Fastify, { type FastifyInstance } from 'fastify'
import { registerClusterRoutes, type ClusterSource } from '../../src/http/cluster-routes.js'
import type { ClusterJson } from '../../src/api/cluster-json.js'

function source (snapshot: () => unknown): ClusterSource {
  return {
    snapshot: snapshot as () => ClusterJson,
    selfId: () => 'self',
    onChange: () => () => {},
    readiness: () => ({ ready: true })
  }
}

describe('GET /api/cluster/events: bounded subscribers and buffers', () => {
  let app: FastifyInstance | undefined
  afterEach(async () => { await app?.close() })

  it('should refuse subscribers past the bound (503) and take one again after a subscriber leaves', async () => {
    let count: (() => number) | undefined
    app = Fastify()
    registerClusterRoutes(app, source(() => ({ peers: [] })), { maxSubscribers: 2, onSubscribers: size => { count = size } })
    const url = `${await app.listen({ host: '127.0.0.1', port: 0 })}/api/cluster/events`
    const first = new AbortController()
    const second = new AbortController()
    assert.equal((await fetch(url, { signal: first.signal })).status, 200)
    assert.equal((await fetch(url, { signal: second.signal })).status, 200)
    assert.equal(count?.(), 2)
    const third = await fetch(url)
    assert.equal(third.status, 503, 'the third is refused')
    assert.equal(third.headers.get('retry-after'), '5')
    assert.equal(count?.(), 2, 'never past the bound')
    first.abort()
    const deadline = Date.now() + 5_000
    while (count?.() !== 1 && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 10))
    assert.equal(count?.(), 1, 'the one that left is no longer counted')
    const again = new AbortController()
    assert.equal((await fetch(url, { signal: again.signal })).status, 200)
    second.abort()
    again.abort()
  })

  it('should cut off a subscriber that stopped reading once its unsent bytes pass the bound', async () => {
    let count: (() => number) | undefined
    // Far more than loopback socket buffers take: most of it waits in the response's own buffer.
    const big = 'x'.repeat(32 * 1024 * 1024)
    app = Fastify()
    let arrived = false
    registerClusterRoutes(app, source(() => { arrived = true; return { peers: [], big } }), { maxBufferedBytes: 1024 * 1024, onSubscribers: size => { count = size } })
    await app.listen({ host: '127.0.0.1', port: 0 })
    const port = (app.server.address() as { port: number }).port
    const socket = connect(port, '127.0.0.1')
    // Never read: the socket is paused from the start.
    socket.pause()
    socket.on('error', () => {})
    socket.write(`GET /api/cluster/events HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n`)
    // A subscriber within its bound stays counted for as long as it is connected: only the cut-off ends it.
    const deadline = Date.now() + 10_000
    while (!(arrived && count?.() === 0) && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 10))
    assert.ok(arrived, 'the subscriber got its snapshot')
    assert.equal(count?.(), 0, 'the stuck subscriber was cut off')
    socket.destroy()
  })
})
