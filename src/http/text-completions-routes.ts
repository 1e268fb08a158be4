// OpenAI's legacy text-completion endpoint, `POST /v1/completions` (llama-server, vLLM and older
// tools call it): a prompt in, text out, streamed (SSE) or whole. The prompt reaches the serving
// backend raw, without a chat template (CompletionRequest.raw), routed like any completion.
import { randomUUID } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import { z } from 'zod'
import { MAX_REQUEST_TOKENS } from '../completion/token-budget.js'
import type { CompletionService, Served } from '../completion/service.js'
import type { CompletionRequest } from '../completion/types.js'
import { serveCompletion, type Dialect } from './dialect.js'
import { openAIError, openAIUsage } from './openai-routes.js'
import { describeZodError, headerHints } from './request-schemas.js'

/** The HTTP body limit (4 MiB) bounds it first; this is the same bound in characters. */
const MAX_PROMPT_CHARS = 4 * 1024 * 1024

export const OpenAITextCompletionRequest = z.object({
  model: z.string().min(1).max(256).optional(),
  // OpenAI also takes several prompts (n answers) or token arrays; one text prompt is what a peer serves.
  prompt: z.unknown().transform((value, ctx) => {
    // By hand: a union reports only "Invalid input", and the client should hear what is wrong.
    const one = Array.isArray(value) && value.length === 1 ? value[0] : value
    if (Array.isArray(value) && value.length !== 1) ctx.addIssue({ code: 'custom', message: 'one prompt per request: send several requests for several prompts' })
    else if (typeof one !== 'string') ctx.addIssue({ code: 'custom', message: 'must be a string (token arrays are not supported)' })
    else if (one.length > MAX_PROMPT_CHARS) ctx.addIssue({ code: 'custom', message: `has ${one.length} characters, over ${MAX_PROMPT_CHARS}` })
    else return one
    return z.NEVER
  }),
  max_tokens: z.number().int().positive().max(MAX_REQUEST_TOKENS).nullable().optional(),
  temperature: z.number().min(0).max(2).nullable().optional(),
  stop: z.union([z.string().min(1).max(256), z.array(z.string().min(1).max(256)).max(16)]).nullable().optional(),
  stream: z.boolean().nullable().optional(),
  stream_options: z.object({ include_usage: z.boolean().optional() }).nullable().optional(),
  n: z.literal(1, { message: 'n: only 1 completion per request' }).nullable().optional(),
  echo: z.literal(false, { message: 'echo is not supported' }).nullable().optional(),
  suffix: z.null({ message: 'suffix (insertion) is not supported' }).optional(),
  user: z.string().max(1024).optional()
})

export function fromOpenAITextCompletion (body: z.infer<typeof OpenAITextCompletionRequest>, hints: ReturnType<typeof headerHints>): CompletionRequest {
  const text = body.prompt
  const stop = body.stop == null ? undefined : typeof body.stop === 'string' ? [body.stop] : body.stop
  return {
    messages: [{ role: 'user', content: text }],
    raw: true,
    // A handover continues a chat turn; a raw prompt has none, so a failed answer ends with its error.
    continue: false,
    ...(body.model != null ? { model: body.model } : {}),
    ...(body.max_tokens != null ? { max_tokens: body.max_tokens } : {}),
    ...(body.temperature != null ? { temperature: body.temperature } : {}),
    ...(stop != null && stop.length > 0 ? { stop } : {}),
    ...(hints.tier != null ? { tier: hints.tier } : {}),
    ...(hints.session != null ? { affinity_key: hints.session } : body.user != null ? { affinity_key: body.user } : {})
  }
}

function textCompletionDialect (model: string | undefined, includeUsage: boolean): Dialect {
  const id = `cmpl-${randomUUID()}`
  const created = Math.floor(Date.now() / 1000)
  const chunk = (text: string, finish: string | null, servedModel?: string, extra: Record<string, unknown> = {}): string =>
    `data: ${JSON.stringify({ id, object: 'text_completion', created, model: servedModel ?? model ?? 'auto', choices: [{ index: 0, text, logprobs: null, finish_reason: finish }], ...extra })}\n\n`
  return {
    contentType: 'text/event-stream',
    delta: d => chunk(d.content, null),
    end: (served: Served) => {
      const { result } = served
      let out = chunk('', result.finish_reason === 'length' ? 'length' : 'stop', result.model)
      if (includeUsage) out += `data: ${JSON.stringify({ id, object: 'text_completion', created, model: result.model, choices: [], usage: openAIUsage(result.usage) })}\n\n`
      return out + 'data: [DONE]\n\n'
    },
    streamError: err => `data: ${JSON.stringify(openAIError(err.status, err.message, err.code))}\n\n`,
    result: (served: Served) => ({
      id,
      object: 'text_completion',
      created,
      model: served.result.model,
      choices: [{ index: 0, text: served.result.message.content ?? '', logprobs: null, finish_reason: served.result.finish_reason === 'length' ? 'length' : 'stop' }],
      usage: openAIUsage(served.result.usage)
    }),
    error: openAIError
  }
}

export function registerTextCompletionRoutes (app: FastifyInstance, service: CompletionService): void {
  app.post('/v1/completions', async (request, reply) => {
    const parsed = OpenAITextCompletionRequest.safeParse(request.body)
    if (!parsed.success) {
      await reply.code(400).send(openAIError(400, describeZodError(parsed.error), 'bad_request'))
      return
    }
    const body = parsed.data
    const dialect = textCompletionDialect(body.model, body.stream_options?.include_usage === true)
    await serveCompletion(service, reply, fromOpenAITextCompletion(body, headerHints(request.headers)), body.stream === true, dialect)
  })
}
