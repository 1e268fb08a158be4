import { randomUUID } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import type { CompletionService, Served } from '../completion/service.js'
import type { Usage } from '../completion/types.js'
import type { z } from 'zod'
import { serveCompletion, type Dialect } from './dialect.js'
import { isPlainOpenAIChat } from './openai-fast-check.js'
import { describeZodError, fromOpenAI, OpenAIChatRequest, headerHints } from './request-schemas.js'

/** OpenAI's error shape; the official SDK reads `error.message` and `error.type`. */
export function openAIError (status: number, message: string, code?: string): unknown {
  const type = status === 400 || status === 404 || status === 413 ? 'invalid_request_error' : status === 401 ? 'authentication_error' : 'server_error'
  return { error: { message, type, param: null, code: code ?? null } }
}

function openAIDialect (model: string | undefined, includeUsage: boolean): Dialect {
  const id = `chatcmpl-${randomUUID()}`
  const created = Math.floor(Date.now() / 1000)
  let sentRole = false
  const chunk = (choices: unknown[], extra: Record<string, unknown> = {}, servedModel?: string): string =>
    `data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model: servedModel ?? model ?? 'auto', choices, ...extra })}\n\n`
  const roleOnce = (): Record<string, unknown> => {
    if (sentRole) return {}
    sentRole = true
    return { role: 'assistant' }
  }
  return {
    contentType: 'text/event-stream',
    delta: d => chunk([{ index: 0, delta: { ...roleOnce(), content: d.content }, finish_reason: null, logprobs: null }]),
    end: (served: Served) => {
      const { result } = served
      let out = ''
      const calls = result.message.tool_calls ?? []
      if (calls.length > 0 || !sentRole) {
        const delta: Record<string, unknown> = { ...roleOnce() }
        if (calls.length > 0) delta.tool_calls = calls.map((c, index) => ({ index, id: c.id, type: 'function', function: c.function }))
        out += chunk([{ index: 0, delta, finish_reason: null, logprobs: null }], {}, result.model)
      }
      out += chunk([{ index: 0, delta: {}, finish_reason: result.finish_reason, logprobs: null }], {}, result.model)
      if (includeUsage) out += chunk([], { usage: usage(served) }, result.model)
      return out + 'data: [DONE]\n\n'
    },
    streamError: err => `data: ${JSON.stringify(openAIError(err.status, err.message, err.code))}\n\n`,
    result: (served: Served) => ({
      id,
      object: 'chat.completion',
      created,
      model: served.result.model,
      choices: [{ index: 0, message: { role: 'assistant', content: served.result.message.content, ...(served.result.message.tool_calls != null ? { tool_calls: served.result.message.tool_calls } : {}), refusal: null }, finish_reason: served.result.finish_reason, logprobs: null }],
      usage: usage(served)
    }),
    error: openAIError
  }
}

/** OpenAI's usage object; `prompt_tokens_details.cached_tokens` only where the serving backend knows it. */
export function openAIUsage (u: Usage): Record<string, unknown> {
  const out: Record<string, unknown> = { prompt_tokens: u.prompt_tokens, completion_tokens: u.completion_tokens, total_tokens: u.prompt_tokens + u.completion_tokens }
  if (u.prompt_tokens_details != null) out.prompt_tokens_details = { cached_tokens: u.prompt_tokens_details.cached_tokens }
  return out
}

const usage = (served: Served): Record<string, unknown> => openAIUsage(served.result.usage)

export function registerOpenAIRoutes (app: FastifyInstance, service: CompletionService): void {
  app.post('/v1/chat/completions', async (request, reply) => {
    let body: z.infer<typeof OpenAIChatRequest>
    if (isPlainOpenAIChat(request.body)) {
      body = request.body as z.infer<typeof OpenAIChatRequest>
    } else {
      const parsed = OpenAIChatRequest.safeParse(request.body)
      if (!parsed.success) {
        await reply.code(400).send(openAIError(400, describeZodError(parsed.error)))
        return
      }
      body = parsed.data
    }
    const dialect = openAIDialect(body.model, body.stream_options?.include_usage === true)
    await serveCompletion(service, reply, fromOpenAI(body, headerHints(request.headers)), body.stream === true, dialect)
  })

  app.get('/v1/models', async () => ({
    object: 'list',
    data: service.models().map(m => ({ id: m.name, object: 'model', created: 0, owned_by: m.nodes.map(n => n.name).join(',') }))
  }))
}
