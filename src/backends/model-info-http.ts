// Model details and running models from an HTTP backend's server (issue 29): Ollama's own
// `/api/show` and `/api/ps`; an OpenAI-compatible server's context length from llama-server's
// `/props`, else from its `/models` entry (vLLM's `max_model_len`, llama-server's `meta.n_ctx_train`).
import { UnknownModelError, UnavailableError } from '../completion/errors.js'
import { boundStrings } from '../model-info/bounds.js'
import type { ModelDetails, ModelInfoSource, RunningModel } from '../model-info/types.js'
import { errorFromStatus, fromAbortReason, MAX_ERROR_BODY_BYTES } from './upstream.js'

interface Init { baseUrl: string, label: string, apiKey?: string }

async function call (init: Init, path: string, signal: AbortSignal, json?: unknown): Promise<unknown> {
  let response: Response
  try {
    response = await fetch(init.baseUrl.replace(/\/+$/, '') + path, {
      method: json === undefined ? 'GET' : 'POST',
      headers: { accept: 'application/json', ...(json !== undefined ? { 'content-type': 'application/json' } : {}), ...(init.apiKey != null && init.apiKey !== '' ? { authorization: `Bearer ${init.apiKey}` } : {}) },
      ...(json !== undefined ? { body: JSON.stringify(json) } : {}),
      signal
    })
  } catch (err: any) {
    if (signal.aborted) throw fromAbortReason(signal.reason)
    throw new UnavailableError(`${init.label} connection failed: ${err?.cause?.code ?? err?.message ?? err}`)
  }
  if (!response.ok) throw errorFromStatus(response.status, (await response.text().catch(() => '')).slice(0, MAX_ERROR_BODY_BYTES), init.label)
  try {
    return await response.json()
  } catch (err: any) {
    throw new UnavailableError(`${init.label} sent malformed JSON: ${err?.message ?? err}`)
  }
}

const num = (v: unknown): number | undefined => typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : undefined
const str = (v: unknown): string | undefined => typeof v === 'string' && v !== '' ? v : undefined
/** Only the fields that are set: the wire schema takes absent fields, not `undefined` ones. */
const defined = <T extends object>(o: T): T => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T

export function ollamaModelInfo (init: Init): Required<ModelInfoSource> {
  return {
    async show (model, signal) {
      const body = await call(init, '/api/show', signal, { model }) as Record<string, any>
      const info = (body?.model_info ?? {}) as Record<string, unknown>
      const arch = str(info['general.architecture'])
      return defined({
        model,
        format: str(body?.details?.format),
        family: str(body?.details?.family),
        architecture: arch,
        parameter_count: num(info['general.parameter_count']),
        parameter_size: str(body?.details?.parameter_size),
        quantization_level: str(body?.details?.quantization_level),
        context_length: arch != null ? num(info[`${arch}.context_length`]) : undefined,
        embedding_length: arch != null ? num(info[`${arch}.embedding_length`]) : undefined,
        template: str(body?.template),
        // model_info can hold whole tokenizer vocabularies (`verbose`); they are not asked for.
        ollama: boundStrings(body) as Record<string, unknown>
      }) satisfies ModelDetails
    },
    async ps (signal) {
      const body = await call(init, '/api/ps', signal) as { models?: Array<Record<string, any>> }
      return (body?.models ?? []).filter(m => str(m?.name ?? m?.model) != null).map(m => defined({
        model: str(m.name ?? m.model) as string,
        size: num(m.size),
        size_vram: num(m.size_vram),
        digest: str(m.digest),
        context_length: num(m.context_length),
        expires_at: str(m.expires_at),
        details: m.details != null ? defined({ format: str(m.details.format), family: str(m.details.family), parameter_size: str(m.details.parameter_size), quantization_level: str(m.details.quantization_level) }) : undefined
      }) satisfies RunningModel)
    }
  }
}

export function openAIModelInfo (init: Init & { models: (signal?: AbortSignal) => Promise<string[]> }): Required<ModelInfoSource> {
  const show = async (model: string, signal: AbortSignal): Promise<ModelDetails> => {
    const listed = await call(init, '/models', signal) as { data?: Array<Record<string, any>> }
    const entry = listed?.data?.find(m => m?.id === model)
    if (entry == null) throw new UnknownModelError(`${init.label} does not list model "${model}"`)
    let contextLength = num(entry.max_model_len) ?? num(entry.meta?.n_ctx_train) ?? num(entry.context_length)
    let template: string | undefined
    // llama-server's /props: the context it runs with (per slot) and its chat template. Other servers lack it.
    const props = await call({ ...init, baseUrl: init.baseUrl.replace(/\/v1\/?$/, '') }, '/props', signal).catch(() => undefined) as Record<string, any> | undefined
    if (props != null) {
      contextLength = num(props.default_generation_settings?.n_ctx) ?? contextLength
      template = str(props.chat_template)
    }
    return defined({ model, context_length: contextLength, template })
  }
  return {
    show,
    async ps (signal) {
      const models = await init.models(signal)
      return await Promise.all(models.slice(0, 64).map(async model => {
        const details = await show(model, signal).catch(() => undefined)
        return defined({ model, context_length: details?.context_length })
      }))
    }
  }
}
