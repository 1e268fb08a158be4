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

export function registerClusterRoutes (app: FastifyInstance, cluster: ClusterSource): void {
  app.get('/api/cluster', async () => cluster.snapshot())

  app.get('/readyz', async (_request, reply) => {
    const readiness = cluster.readiness()
    await reply.code(readiness.ready ? 200 : 503).send(readiness)
  })

  app.get('/api/cluster/events', (request, reply) => {
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
    const send = (event: string, data: unknown): void => {
      res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`)
    }
    send('snapshot', cluster.snapshot())
    const unsubscribe = cluster.onChange(change => { send('change', changeJson(change, cluster.selfId(), Date.now())) })
    const keepalive = setInterval(() => res.write(': keepalive\n\n'), SSE_KEEPALIVE_MS)
    const close = (): void => {
      clearInterval(keepalive)
      unsubscribe()
    }
    request.raw.on('close', close)
    res.on('close', close)
  })
}
