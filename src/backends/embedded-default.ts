import { access } from 'node:fs/promises'
import { basename, join } from 'node:path'
import type { Backend } from '../completion/types.js'
import type { BackendOptions } from './backend-options.js'
import { deferredBackend } from './deferred.js'
import { ensureTinyModel, TINY_MODEL_NAME } from './tiny-gguf.js'

/**
 * The tiny model's answer length when a request sets no max_tokens. Its random weights never emit
 * an end-of-turn token, so without a default every such request would fill the 2,048-token
 * context (several seconds of gibberish). Real models stop by themselves and get no default.
 */
export const TINY_DEFAULT_MAX_TOKENS = 256
/** Requests the tiny model generates at once (embedded's own default, stated here so a deferred load can announce its capacity). */
const TINY_SEQUENCES = 2

/** `--backend embedded`: the given GGUF, or the bundled tiny model written into the data dir on first use. */
export async function createEmbeddedFromOptions (options: BackendOptions): Promise<Backend> {
  const tiny = options.modelFile == null
  // The name is the file's, never a configured one: the peer checks configured names against it
  // (model honesty), so a `model:` entry cannot relabel the tiny model as qwen2.5:3b.
  const modelName = options.modelFile == null ? TINY_MODEL_NAME : basename(options.modelFile).replace(/\.gguf$/i, '')
  const defaultMaxTokens = tiny ? TINY_DEFAULT_MAX_TOKENS : undefined
  const load = async (): Promise<Backend> => {
    const modelFile = options.modelFile ?? await ensureTinyModel(options.dataDir)
    // node-llama-cpp is imported here, not at the top: importing it and loading its binding is
    // most of a default start's time, which a deferred load moves after the ready line.
    const { createEmbeddedBackend } = await import('./embedded.js')
    return await createEmbeddedBackend({
      modelFile,
      modelName,
      logger: options.logger,
      onProgress: options.onProgress,
      ...(options.promptCache != null ? { promptCache: options.promptCache } : {}),
      ...(tiny ? { sequences: TINY_SEQUENCES } : {}),
      ...(defaultMaxTokens != null ? { defaultMaxTokens } : {})
    })
  }
  // Only the tiny model we write ourselves loads after the ready line: it cannot be a bad file.
  // A user's --model-file still loads first, so a file llama.cpp cannot load is exit 2 before the
  // peer announces anything, and a big model is never announced before it can answer.
  if (options.deferLoad != null && tiny) {
    // The file must be there before the peer starts: model sharing offers what it finds at start
    // (and rescans only every 30 s). Checking its content (regenerating it) waits for the load.
    const file = join(options.dataDir, 'models', `${TINY_MODEL_NAME}.gguf`)
    if (!await access(file).then(() => true, () => false)) await ensureTinyModel(options.dataDir)
    return deferredBackend({
      kind: 'embedded',
      modelName,
      capacity: TINY_SEQUENCES,
      defaultMaxTokens,
      load,
      onError: options.deferLoad.onError,
      ...(options.deferLoad.after != null ? { after: options.deferLoad.after } : {})
    })
  }
  return await load()
}
