// Model details and running models (issue 29): OpenAI `GET /v1/models/{id}`, Ollama
// `POST /api/show` (answered by a peer that serves the model) and `GET /api/ps` (every peer's
// running models, each with the peer that runs it). Errors in each API's own shape.
import type { FastifyInstance } from 'fastify'
import { z } from 'zod'
import { toCompletionError } from '../completion/errors.js'
import type { CompletionService } from '../completion/service.js'
import type { ModelInfoService } from '../model-info/service.js'
import type { ModelDetails } from '../model-info/types.js'
import { openAIError } from './openai-routes.js'
import { ollamaError } from './ollama-routes.js'

const ShowRequest = z.object({
  model: z.string().min(1).max(256).optional(),
  // Older Ollama clients send `name`.
  name: z.string().min(1).max(256).optional(),
  verbose: z.boolean().optional()
}).refine(b => b.model != null || b.name != null, { message: 'model is required', path: ['model'] })

/**
 * `expires_at` for a model its backend keeps loaded for the peer's whole life (embedded, an
 * OpenAI-compatible server): far in the future, as Ollama itself reports a model loaded with
 * `keep_alive: -1` (now + Go's longest duration). Ollama's tools print a time more than 20 years
 * ahead as "Forever"; Go's zero time, the obvious "never", would print as "Stopping...".
 */
export function alwaysLoadedUntil (now: number): string {
  return new Date(now + ALWAYS_LOADED_YEARS * 365.25 * 86_400_000).toISOString()
}

/** Beyond the 20 years past which Ollama's `format.HumanTime` says "Forever". */
const ALWAYS_LOADED_YEARS = 100

/** Ollama's `/api/show` body for details a non-Ollama backend gave. */
export function ollamaShow (d: ModelDetails): Record<string, unknown> {
  const arch = d.architecture ?? d.family ?? 'unknown'
  const modelInfo: Record<string, unknown> = { 'general.architecture': arch }
  if (d.parameter_count != null) modelInfo['general.parameter_count'] = d.parameter_count
  if (d.context_length != null) modelInfo[`${arch}.context_length`] = d.context_length
  if (d.embedding_length != null) modelInfo[`${arch}.embedding_length`] = d.embedding_length
  return {
    modelfile: '',
    parameters: '',
    template: d.template ?? '',
    details: {
      parent_model: '',
      format: d.format ?? '',
      family: d.family ?? '',
      families: d.family != null ? [d.family] : null,
      parameter_size: d.parameter_size ?? '',
      quantization_level: d.quantization_level ?? ''
    },
    model_info: modelInfo,
    capabilities: ['completion'],
    modified_at: new Date(0).toISOString()
  }
}

export function registerModelDetailsRoutes (app: FastifyInstance, completions: CompletionService | undefined, info: ModelInfoService): void {
  if (completions != null) {
    app.get('/v1/models/*', async (request, reply) => {
      const id = (request.params as Record<string, string>)['*'] ?? ''
      const model = completions.models().find(m => m.name === id)
      if (model == null) {
        await reply.code(404).send(openAIError(404, `The model '${id}' does not exist`, 'model_not_found'))
        return
      }
      return { id: model.name, object: 'model', created: 0, owned_by: model.nodes.map(n => n.name).join(',') }
    })
  }

  app.post('/api/show', async (request, reply) => {
    const parsed = ShowRequest.safeParse(request.body ?? {})
    if (!parsed.success) {
      await reply.code(400).send(ollamaError(400, `${parsed.error.issues[0]?.path.join('.') ?? ''}: ${parsed.error.issues[0]?.message ?? 'bad request'}`))
      return
    }
    const model = parsed.data.model ?? parsed.data.name ?? ''
    try {
      const { details, node } = await info.show(model, AbortSignal.timeout(10_000))
      await reply.header('x-harombe-node', node.name).send(details.ollama ?? ollamaShow(details))
    } catch (err) {
      const e = toCompletionError(err)
      await reply.code(e.status).send(ollamaError(e.status, e.message))
    }
  })

  app.get('/api/ps', async () => {
    const { models, not_answering: notAnswering } = await info.ps(AbortSignal.timeout(10_000))
    const forever = alwaysLoadedUntil(Date.now())
    return {
      models: models.map(m => ({
        name: m.model,
        model: m.model,
        size: m.size ?? 0,
        digest: m.digest ?? '',
        details: { parent_model: '', format: m.details?.format ?? '', family: m.details?.family ?? '', families: m.details?.family != null ? [m.details.family] : null, parameter_size: m.details?.parameter_size ?? '', quantization_level: m.details?.quantization_level ?? '' },
        expires_at: m.expires_at ?? forever,
        size_vram: m.size_vram ?? 0,
        ...(m.context_length != null ? { context_length: m.context_length } : {}),
        // Not Ollama's: which peer runs it (an Ollama client ignores the field).
        peer: { name: m.peer.name, peer_id: m.peer.peer_id, tier: m.peer.tier }
      })),
      ...(notAnswering.length > 0 ? { not_answering: notAnswering } : {})
    }
  })
}
