import type { FastifyReply } from 'fastify'
import { toCompletionError, type CompletionError } from '../completion/errors.js'
import type { CompletionService, Served } from '../completion/service.js'
import type { CompletionDelta, CompletionRequest } from '../completion/types.js'

/**
 * One API dialect (OpenAI, Ollama, harombe): how to frame a streamed answer, a whole answer
 * and an error. The completion flow itself — abort on disconnect, commit on the first token,
 * errors before vs after it — is shared by all of them in `serveCompletion`.
 */
export interface Dialect {
  contentType: string
  /** Bytes for one streamed delta. */
  delta: (delta: CompletionDelta) => string
  /** Bytes that end a successful stream (final chunk, usage, `[DONE]`). */
  end: (served: Served) => string
  /** Bytes that end a stream that failed after its first token. */
  streamError: (err: CompletionError) => string
  /** The JSON body of a whole (non-streamed) answer. */
  result: (served: Served) => unknown
  /** The JSON body of an error in this API's own format. */
  error: (status: number, message: string, code?: string) => unknown
}

/** When no peer can serve, tell clients when to come back rather than hammering. */
const RETRY_AFTER_SECONDS = '2'

export async function serveCompletion (
  service: CompletionService,
  reply: FastifyReply,
  completion: CompletionRequest,
  stream: boolean,
  dialect: Dialect
): Promise<void> {
  const res = reply.raw
  // Per request, whatever the dialect: `x-harombe-continue: off` ends a stream whose peer dies with the error instead of a handover.
  if (continueHeaderOff(reply.request.headers['x-harombe-continue'])) completion = { ...completion, continue: false }
  const controller = new AbortController()
  // The response closing before we finished means the client left: stop generating at once.
  res.on('close', () => { if (!res.writableFinished) controller.abort() })

  if (!stream) {
    try {
      const served = await service.complete(completion, { signal: controller.signal })
      await reply.header('x-harombe-node', served.node.name).send(dialect.result(served))
    } catch (err) {
      await sendError(reply, dialect, toCompletionError(err))
    }
    return
  }

  reply.hijack()
  let committed = false
  try {
    const served = await service.complete(completion, {
      signal: controller.signal,
      onCommit: node => {
        committed = true
        res.writeHead(200, {
          'content-type': dialect.contentType,
          'cache-control': 'no-cache',
          'x-harombe-node': node.name,
          'x-accel-buffering': 'no'
        })
      },
      onDelta: delta => { res.write(dialect.delta(delta)) }
    })
    res.end(dialect.end(served))
  } catch (err) {
    const e = toCompletionError(err)
    if (controller.signal.aborted) {
      res.destroy()
    } else if (committed) {
      res.end(dialect.streamError(e))
    } else {
      res.writeHead(e.status, errorHeaders(e))
      res.end(JSON.stringify(dialect.error(e.status, e.message, e.code)))
    }
  }
}

/** `off`, `false`, `no` or `0` (any case) turn continuation off; anything else leaves it to the peer. */
export function continueHeaderOff (value: string | string[] | undefined): boolean {
  const text = (Array.isArray(value) ? value[0] : value)?.trim().toLowerCase()
  return text === 'off' || text === 'false' || text === 'no' || text === '0'
}

async function sendError (reply: FastifyReply, dialect: Dialect, err: CompletionError): Promise<void> {
  if (reply.raw.destroyed) return
  await reply.code(err.status).headers(errorHeaders(err)).send(dialect.error(err.status, err.message, err.code))
}

function errorHeaders (err: CompletionError): Record<string, string> {
  const headers: Record<string, string> = { 'content-type': 'application/json; charset=utf-8' }
  if (err.status === 503 || err.status === 429) headers['retry-after'] = RETRY_AFTER_SECONDS
  return headers
}
