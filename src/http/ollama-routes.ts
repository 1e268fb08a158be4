import type { FastifyInstance } from 'fastify'
import type { CompletionService, Served } from '../completion/service.js'
import type { CompletionRequest, Usage } from '../completion/types.js'
import { VERSION } from '../version.js'
import { serveCompletion, type Dialect } from './dialect.js'
import { describeZodError, fromOllamaChat, fromOllamaGenerate, OllamaChatRequest, OllamaGenerateRequest, headerHints } from './request-schemas.js'

/** Ollama answers errors as `{ "error": "…" }`; its JS client throws with that message. */
export function ollamaError (_status: number, message: string): unknown {
  return { error: message }
}

type Shape = 'chat' | 'generate'

function ollamaDialect (shape: Shape, requestedModel: string): Dialect {
  const line = (value: unknown): string => JSON.stringify(value) + '\n'
  const head = (model: string): Record<string, unknown> => ({ model, created_at: new Date().toISOString() })
  const final = (served: Served): Record<string, unknown> => {
    const { result } = served
    const toolCalls = result.message.tool_calls?.map(c => ({ function: { name: c.function.name, arguments: parseArguments(c.function.arguments) } }))
    return {
      ...head(result.model),
      ...(shape === 'chat'
        ? { message: { role: 'assistant', content: '', ...(toolCalls != null ? { tool_calls: toolCalls } : {}) } }
        : { response: '' }),
      done: true,
      done_reason: result.finish_reason === 'length' ? 'length' : 'stop',
      prompt_eval_count: promptEvalCount(result.usage),
      eval_count: result.usage.completion_tokens
    }
  }
  return {
    contentType: 'application/x-ndjson',
    delta: d => line({
      ...head(requestedModel),
      ...(shape === 'chat' ? { message: { role: 'assistant', content: d.content } } : { response: d.content }),
      done: false
    }),
    end: served => line(final(served)),
    streamError: err => line({ error: err.message }),
    result: (served: Served) => {
      const body = final(served)
      const content = served.result.message.content ?? ''
      if (shape === 'chat') (body.message as Record<string, unknown>).content = content
      else body.response = content
      return body
    },
    error: ollamaError
  }
}

/**
 * Ollama's meaning: the prompt tokens evaluated for this request, without those its cache already
 * held (Ollama itself counts so). Where the backend reports no cached figure, the whole prompt.
 */
export function promptEvalCount (usage: Usage): number {
  return Math.max(0, usage.prompt_tokens - (usage.prompt_tokens_details?.cached_tokens ?? 0))
}

function parseArguments (text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    // Ollama clients expect an object; keep what the model said rather than dropping it.
    return { _raw: text }
  }
}

/**
 * Ollama clients preload a model with an empty chat (or an empty prompt) and expect a single
 * `done_reason: "load"` object back. Backends and mesh peers load on demand, so there is nothing
 * to do but say whether some alive peer serves the model.
 */
function isLoadRequest (shape: Shape, body: { messages?: unknown[], prompt?: string, system?: string }): boolean {
  return shape === 'chat' ? (body.messages?.length ?? 0) === 0 : (body.prompt ?? '') === '' && (body.system ?? '') === ''
}

async function answerLoad (service: CompletionService, reply: any, shape: Shape, model: string): Promise<void> {
  if (!service.models().some(m => m.name === model)) {
    await reply.code(404).send(ollamaError(404, `model '${model}' not found`))
    return
  }
  await reply.send({
    model,
    created_at: new Date().toISOString(),
    ...(shape === 'chat' ? { message: { role: 'assistant', content: '' } } : { response: '' }),
    done: true,
    done_reason: 'load'
  })
}

export function registerOllamaRoutes (app: FastifyInstance, service: CompletionService): void {
  const handle = (shape: Shape) => async (request: any, reply: any): Promise<void> => {
    const schema = shape === 'chat' ? OllamaChatRequest : OllamaGenerateRequest
    const parsed = schema.safeParse(request.body)
    if (!parsed.success) {
      await reply.code(400).send(ollamaError(400, describeZodError(parsed.error)))
      return
    }
    if (isLoadRequest(shape, parsed.data)) {
      await answerLoad(service, reply, shape, parsed.data.model)
      return
    }
    const hints = headerHints(request.headers)
    const completion: CompletionRequest = shape === 'chat'
      ? fromOllamaChat(parsed.data as any, hints)
      : fromOllamaGenerate(parsed.data as any, hints)
    // Ollama streams unless told otherwise.
    await serveCompletion(service, reply, completion, parsed.data.stream !== false, ollamaDialect(shape, parsed.data.model))
  }

  app.post('/api/chat', handle('chat'))
  app.post('/api/generate', handle('generate'))

  app.get('/api/tags', async () => ({
    models: service.models().map(m => ({
      name: m.name,
      model: m.name,
      modified_at: new Date(0).toISOString(),
      size: 0,
      digest: '',
      details: { format: 'gguf', family: '', families: null, parameter_size: '', quantization_level: '' }
    }))
  }))

  app.get('/api/version', async () => ({ version: VERSION }))
}
