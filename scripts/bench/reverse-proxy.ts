// The comparison for routed throughput: a plain Node HTTP reverse proxy (what a LiteLLM-style
// proxy does at its core, minus the features), round-robin over upstreams with keep-alive.
// No parsing of bodies: it streams requests and responses through.
//
// Run: tsx scripts/bench/reverse-proxy.ts <upstream-origin>... → `reverse-proxy ready url=http://127.0.0.1:<port>`
import { Agent, createServer, request as httpRequest } from 'node:http'
import type { AddressInfo } from 'node:net'

const upstreams = process.argv.slice(2).map(u => new URL(u))
if (upstreams.length === 0) {
  process.stderr.write('usage: reverse-proxy.ts <upstream-origin>...\n')
  process.exit(2)
}

// Keep-alive to the upstreams: a new TCP connection per request would measure the kernel, not the proxy.
const agent = new Agent({ keepAlive: true, maxSockets: 256 })
let next = 0

const server = createServer((req, res) => {
  const target = upstreams[next++ % upstreams.length] as URL
  const upstream = httpRequest({
    host: target.hostname,
    port: target.port,
    method: req.method,
    path: req.url,
    headers: { ...req.headers, host: target.host },
    agent
  }, (answer) => {
    res.writeHead(answer.statusCode ?? 502, answer.headers)
    answer.pipe(res)
  })
  upstream.on('error', (err) => {
    if (res.headersSent) res.destroy(err)
    else {
      res.writeHead(502, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ error: { message: `upstream failed: ${err.message}`, type: 'server_error' } }))
    }
  })
  // The client leaving aborts the upstream request, as a real proxy must.
  res.on('close', () => { if (!res.writableFinished) upstream.destroy() })
  req.pipe(upstream)
})
server.keepAliveTimeout = 65_000
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as AddressInfo
  process.stdout.write(`reverse-proxy ready url=http://127.0.0.1:${port}\n`)
})
process.on('SIGTERM', () => {
  server.closeAllConnections()
  server.close(() => process.exit(0))
})
