import type { Backend } from '../completion/types.js'
import type { Logger } from '../log.js'
import { createOllamaBackend, OLLAMA_DEFAULT_URL } from './ollama.js'
import { createOpenAIBackend } from './openai.js'

export type BackendKind = 'embedded' | 'ollama' | 'openai' | 'none'

export interface BackendOptions {
  backend: BackendKind
  backendUrl?: string
  backendKey?: string
  modelFile?: string
  dataDir: string
  logger: Logger
  /** Model load progress for large files (0..1). */
  onProgress?: (fraction: number) => void
}

/** A backend option that cannot work (e.g. openai without a URL). */
export class BackendConfigError extends Error {
  static name = 'BackendConfigError'
  name = BackendConfigError.name
}

/**
 * Builds the backend `start` asked for; `none` is a routing-only peer. The embedded backend is
 * imported only when chosen, so other peers never load node-llama-cpp.
 */
export async function createBackend (options: BackendOptions): Promise<Backend | undefined> {
  switch (options.backend) {
    case 'none':
      return undefined
    case 'ollama':
      return createOllamaBackend({ baseUrl: options.backendUrl ?? OLLAMA_DEFAULT_URL, logger: options.logger })
    case 'openai':
      if (options.backendUrl == null) {
        throw new BackendConfigError('--backend openai needs --backend-url, the base URL as the OpenAI SDK takes it (e.g. http://127.0.0.1:8080/v1)')
      }
      return createOpenAIBackend({ baseUrl: options.backendUrl, apiKey: options.backendKey, logger: options.logger })
    case 'embedded': {
      const { createEmbeddedFromOptions } = await import('./embedded-default.js')
      return await createEmbeddedFromOptions(options)
    }
  }
}
