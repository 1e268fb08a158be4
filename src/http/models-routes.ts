import type { FastifyInstance } from 'fastify'
import { z } from 'zod'
import type { ModelSharing } from '../sharing/service.js'
import type { PullEvent } from '../sharing/events.js'
import { defaultOllamaDir } from '../sharing/options.js'
import { harombeError } from './harombe-routes.js'

// Model file sharing over HTTP (issue 16):
//   GET  /api/models/files    what this peer shares (and what it is still hashing)
//   GET  /api/models/holders  every file shared in the mesh and which peers hold it (the dashboard's table)
//   POST /api/models/pull     pull a file from the peers that hold it; NDJSON PullEvents, the last `done` or `error`
//   GET  /api/models/pulls    the latest pulls through this peer with their last event (the dashboard polls it)

const PullBodySchema = z.object({
  model: z.string().min(1).max(256),
  // Where to write on this peer's machine; absent: its models dir. Guarded by the API token like every endpoint.
  to: z.string().min(1).max(4096).optional(),
  into_ollama: z.union([z.boolean(), z.string().min(1).max(4096)]).optional()
})

/** Bound on one holders lookup: it asks every sharing peer's catalogue. */
const HOLDERS_TIMEOUT_MS = 10_000
/** Pulls remembered for the dashboard. */
const RECENT_PULLS = 16

interface PullRecord {
  model: string
  started_at: string
  last: PullEvent
}

/** Error code of a failed pull: the error class name in snake_case (NoHolderError → no_holder). */
export function pullErrorCode (err: unknown): string {
  const name = String((err as Error)?.name ?? 'Error').replace(/Error$/, '')
  return name === '' ? 'error' : name.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toLowerCase()
}

export function registerModelsRoutes (app: FastifyInstance, sharing: () => ModelSharing | undefined): void {
  const recent: PullRecord[] = []

  app.get('/api/models/files', async () => {
    const s = sharing()
    if (s == null) return { sharing: false, files: [], hashing: [] }
    return { sharing: true, ...s.files() }
  })

  app.get('/api/models/holders', async () => {
    const s = sharing()
    if (s == null) return { sharing: false, files: [] }
    const { holdings, failed } = await s.holdings(AbortSignal.timeout(HOLDERS_TIMEOUT_MS))
    const files = new Map(holdings.map(h => [h.file.sha256, { name: h.file.name, size: h.file.size, sha256: h.file.sha256, holders: h.holders.map(m => ({ peer_id: m.peerId, name: m.name, self: false })) }]))
    for (const own of s.files().files) {
      const entry = files.get(own.sha256) ?? { name: own.name, size: own.size, sha256: own.sha256, holders: [] }
      entry.holders.unshift({ peer_id: 'self', name: 'this peer', self: true })
      files.set(own.sha256, entry)
    }
    return { sharing: true, files: [...files.values()].sort((a, b) => a.name < b.name ? -1 : 1), not_answering: failed }
  })

  app.get('/api/models/pulls', async () => ({ pulls: [...recent].reverse() }))

  app.post('/api/models/pull', async (request, reply) => {
    const s = sharing()
    if (s == null) {
      await reply.code(503).send(harombeError(503, 'model sharing is off on this peer (started with --no-share)', 'sharing_off'))
      return
    }
    const parsed = PullBodySchema.safeParse(request.body)
    if (!parsed.success) {
      await reply.code(400).send(harombeError(400, `bad pull request: ${parsed.error.issues[0]?.path.join('.') ?? ''} ${parsed.error.issues[0]?.message ?? ''}`.trim(), 'bad_request'))
      return
    }
    const body = parsed.data
    // A path on this machine is the caller's to choose only when the caller is on this machine (the
    // CLI's `pull --to` / `--into-ollama`): over the network a token would otherwise let anyone
    // write files wherever the peer process may. Remote callers pull into the models dir.
    if ((body.to != null || body.into_ollama != null) && !isLoopback(request.socket.remoteAddress)) {
      await reply.code(403).send(harombeError(403, '`to` and `into_ollama` are accepted only from this machine (loopback); a remote pull goes to the peer\'s models dir', 'forbidden'))
      return
    }
    const record: PullRecord = { model: body.model, started_at: new Date().toISOString(), last: { type: 'progress', bytes: 0, total: 0, transferred: 0, rate: 0, eta_s: null, sources: [] } }
    recent.push(record)
    if (recent.length > RECENT_PULLS) recent.shift()
    // The client leaving aborts the pull; what is verified stays in the partial file for the next try.
    const controller = new AbortController()
    reply.raw.on('close', () => { if (!reply.raw.writableFinished) controller.abort(new Error('the client went away')) })
    reply.hijack()
    reply.raw.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-cache' })
    const write = (event: PullEvent): void => {
      record.last = event
      if (!reply.raw.writableEnded) reply.raw.write(JSON.stringify(event) + '\n')
    }
    const intoOllama = body.into_ollama === true ? defaultOllamaDir() : typeof body.into_ollama === 'string' ? body.into_ollama : undefined
    try {
      await s.pull(body.model, { signal: controller.signal, onEvent: write, ...(body.to != null ? { to: body.to } : {}), ...(intoOllama != null ? { intoOllama } : {}) })
    } catch (err: any) {
      write({ type: 'error', code: pullErrorCode(err), message: String(err?.message ?? err) })
    }
    reply.raw.end()
  })
}

/** 127.0.0.0/8, ::1 and their IPv4-mapped forms. */
export function isLoopback (address: string | undefined): boolean {
  if (address == null) return false
  const v4 = address.startsWith('::ffff:') ? address.slice(7) : address
  return v4 === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(v4)
}
