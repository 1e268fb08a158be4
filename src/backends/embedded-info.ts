// Model details from the embedded backend's GGUF (issue 29): architecture, parameter count,
// training context, quantization and chat template, read from the loaded file's metadata.
import type { LlamaModel } from 'node-llama-cpp'
import type { ModelDetails, ModelInfoSource } from '../model-info/types.js'
import { boundStrings } from '../model-info/bounds.js'
import { UnknownModelError } from '../completion/errors.js'

/** llama.cpp's `general.file_type` values for the common quantizations (llama.h `llama_ftype`). */
const FILE_TYPES: Record<number, string> = { 0: 'F32', 1: 'F16', 2: 'Q4_0', 3: 'Q4_1', 7: 'Q8_0', 8: 'Q5_0', 9: 'Q5_1', 10: 'Q2_K', 11: 'Q3_K_S', 12: 'Q3_K_M', 13: 'Q3_K_L', 14: 'Q4_K_S', 15: 'Q4_K_M', 16: 'Q5_K_S', 17: 'Q5_K_M', 18: 'Q6_K', 32: 'BF16' }

/** `7.6B`, `135M`: Ollama's parameter_size label. */
export function parameterLabel (count: number): string {
  if (count >= 1e9) return `${(count / 1e9).toFixed(1).replace(/\.0$/, '')}B`
  if (count >= 1e6) return `${(count / 1e6).toFixed(1).replace(/\.0$/, '')}M`
  return `${Math.round(count / 1e3)}K`
}

export function embeddedModelInfo (model: LlamaModel, modelName: string, contextSize: number): Required<ModelInfoSource> {
  const details = (): ModelDetails => {
    const meta = model.fileInfo.metadata as Record<string, any>
    const arch = typeof meta.general?.architecture === 'string' ? meta.general.architecture as string : undefined
    const params = model.fileInsights.totalParameters
    const fileType = typeof meta.general?.file_type === 'number' ? FILE_TYPES[meta.general.file_type as number] : undefined
    const template = meta.tokenizer?.chat_template
    const out: ModelDetails = { model: modelName, format: 'gguf', context_length: model.trainContextSize }
    if (arch != null) { out.architecture = arch; out.family = arch }
    if (params > 0) { out.parameter_count = params; out.parameter_size = parameterLabel(params) }
    if (fileType != null) out.quantization_level = fileType
    const embedding = meta[arch ?? '']?.embedding_length
    if (typeof embedding === 'number') out.embedding_length = embedding
    if (typeof template === 'string') out.template = boundStrings(template) as string
    return out
  }
  return {
    async show (name) {
      if (name !== modelName) throw new UnknownModelError(`this peer does not serve model "${name}"`)
      return details()
    },
    async ps () {
      const d = details()
      // Loaded for the peer's life: no expiry. The context is what this peer runs, not the training maximum.
      return [{ model: modelName, size: model.size, context_length: contextSize, details: { format: 'gguf', ...(d.family != null ? { family: d.family } : {}), ...(d.parameter_size != null ? { parameter_size: d.parameter_size } : {}), ...(d.quantization_level != null ? { quantization_level: d.quantization_level } : {}) } }]
    }
  }
}
