import { basename } from 'node:path'
import type { Backend } from '../completion/types.js'
import type { BackendOptions } from './backend-options.js'
import { createEmbeddedBackend } from './embedded.js'
import { ensureTinyModel, TINY_MODEL_NAME } from './tiny-gguf.js'

/**
 * The tiny model's answer length when a request sets no max_tokens. Its random weights never emit
 * an end-of-turn token, so without a default every such request would fill the 2,048-token
 * context (several seconds of gibberish). Real models stop by themselves and get no default.
 */
export const TINY_DEFAULT_MAX_TOKENS = 256

/** `--backend embedded`: the given GGUF, or the bundled tiny model written into the data dir on first use. */
export async function createEmbeddedFromOptions (options: BackendOptions): Promise<Backend> {
  const modelFile = options.modelFile ?? await ensureTinyModel(options.dataDir)
  // The name is the file's, never a configured one: the peer checks configured names against it
  // (model honesty), so a `model:` entry cannot relabel the tiny model as qwen2.5:3b.
  const modelName = options.modelFile == null ? TINY_MODEL_NAME : basename(modelFile).replace(/\.gguf$/i, '')
  return await createEmbeddedBackend({
    modelFile,
    modelName,
    logger: options.logger,
    onProgress: options.onProgress,
    ...(options.promptCache != null ? { promptCache: options.promptCache } : {}),
    ...(options.modelFile == null ? { defaultMaxTokens: TINY_DEFAULT_MAX_TOKENS } : {})
  })
}
