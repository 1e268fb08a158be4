import type { FastifyInstance } from 'fastify'
import type { CompletionService, Served } from '../completion/service.js'
import { serveCompletion, type Dialect } from './dialect.js'
import { describeZodError, fromHarombe, HarombeCompleteRequest, headerHints } from './request-schemas.js'

export function harombeError (_status: number, message: string, code?: string): unknown {
  return { error: { code: code ?? 'error', message } }
}

function answer (served: Served): Record<string, unknown> {
  const { result, node } = served
  return { message: result.message, finish_reason: result.finish_reason, model: result.model, usage: result.usage, node }
}

/** The seed's `POST /api/complete`: one JSON answer, or NDJSON deltas then the answer. */
const harombeDialect: Dialect = {
  contentType: 'application/x-ndjson',
  delta: d => JSON.stringify({ type: 'delta', content: d.content }) + '\n',
  end: served => JSON.stringify({ type: 'done', ...answer(served) }) + '\n',
  streamError: err => JSON.stringify({ type: 'error', error: { code: err.code, message: err.message } }) + '\n',
  result: answer,
  error: harombeError
}

export function registerHarombeRoutes (app: FastifyInstance, service: CompletionService): void {
  app.post('/api/complete', async (request, reply) => {
    const parsed = HarombeCompleteRequest.safeParse(request.body)
    if (!parsed.success) {
      await reply.code(400).send(harombeError(400, describeZodError(parsed.error), 'bad_request'))
      return
    }
    const completion = fromHarombe(parsed.data, headerHints(request.headers))
    await serveCompletion(service, reply, completion, parsed.data.stream === true, harombeDialect)
  })

  app.get('/api/models', async () => ({ models: service.models() }))
}
