import type { FastifyInstance } from 'fastify'
import type { ViewChange } from '../membership/view.js'
import { changeJson } from './cluster-json.js'
import type { ClusterJson } from '../api/cluster-json.js'

/** What the cluster endpoints need from the peer: a snapshot, change events and readiness. */
export interface ClusterSource {
  snapshot: () => ClusterJson
  selfId: () => string
  onChange: (listener: (change: ViewChange) => void) => () => void
  readiness: () => { ready: true } | { ready: false, reason: string }
}

/** SSE comment every 15 s: proxies close streams that stay silent for a minute. */
const SSE_KEEPALIVE_MS = 15_000

/** Event-stream subscribers at once: dashboards and `status --watch`, a handful in practice; more are refused (503). */
export const MAX_EVENT_SUBSCRIBERS = 64

/**
 * Bytes written to one subscriber and not yet taken by its socket. `res.write` buffers without
 * limit: a subscriber that stopped reading would hold every change since in the peer's memory.
 * Past this (hundreds of changes behind) it is cut off; it reconnects and gets a fresh snapshot.
 */
export const MAX_EVENT_BUFFER_BYTES = 1024 * 1024

export interface ClusterRoutesOptions {
  maxSubscribers?: number
  maxBufferedBytes?: number
  /** Told the subscriber count reader, so the peer can register it as a bounded structure. */
  onSubscribers?: (count: () => number, limit: number) => void
}

export function registerClusterRoutes (app: FastifyInstance, cluster: ClusterSource, options: ClusterRoutesOptions = {}): void {
  const maxSubscribers = options.maxSubscribers ?? MAX_EVENT_SUBSCRIBERS
  const maxBuffered = options.maxBufferedBytes ?? MAX_EVENT_BUFFER_BYTES
  let subscribers = 0
  options.onSubscribers?.(() => subscribers, maxSubscribers)

  app.get('/api/cluster', async () => cluster.snapshot())

  app.get('/readyz', async (_request, reply) => {
    const readiness = cluster.readiness()
    await reply.code(readiness.ready ? 200 : 503).send(readiness)
  })

  app.get('/api/cluster/events', async (request, reply) => {
    if (subscribers >= maxSubscribers) {
      await reply.code(503).header('retry-after', '5').send({ error: `too many event subscribers (at most ${maxSubscribers})` })
      return
    }
    reply.hijack()
    const res = reply.raw
    res.writeHead(200, {
      'content-type': 'text/event-stream',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      'x-accel-buffering': 'no'
    })
    // HEAD asks for the headers only. Node sends them with the first body write, which HEAD never
    // makes, so the client waited for ever; and an answer never ended stalls the keep-alive
    // connection's next request (found by the HTTP fuzz suite, issue 17).
    if (request.method === 'HEAD') {
      res.end()
      return
    }
    subscribers++
    let closed = false
    const write = (text: string): void => {
      if (closed) return
      res.write(text)
      if (res.writableLength > maxBuffered) res.destroy()
    }
    const send = (event: string, data: unknown): void => {
      write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`)
    }
    send('snapshot', cluster.snapshot())
    const unsubscribe = cluster.onChange(change => { send('change', changeJson(change, cluster.selfId(), Date.now())) })
    const keepalive = setInterval(() => { write(': keepalive\n\n') }, SSE_KEEPALIVE_MS)
    const close = (): void => {
      if (closed) return
      closed = true
      subscribers--
      clearInterval(keepalive)
      unsubscribe()
    }
    request.raw.on('close', close)
    res.on('close', close)
  })
}
