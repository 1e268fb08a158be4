import type { Backend } from '../completion/types.js'
import type { BackendOptions } from './backend-options.js'

export type { BackendKind, BackendOptions } from './backend-options.js'

/** A backend option that cannot work (e.g. openai without a URL). */
export class BackendConfigError extends Error {
  static name = 'BackendConfigError'
  name = BackendConfigError.name
}

/**
 * Builds the backend `start` asked for; `none` is a routing-only peer. Each backend is imported
 * only when chosen: other peers never load node-llama-cpp, and a routing-only peer loads none.
 */
export async function createBackend (options: BackendOptions): Promise<Backend | undefined> {
  switch (options.backend) {
    case 'none':
      return undefined
    case 'ollama': {
      const { createOllamaBackend, OLLAMA_DEFAULT_URL } = await import('./ollama.js')
      return createOllamaBackend({ baseUrl: options.backendUrl ?? OLLAMA_DEFAULT_URL, logger: options.logger })
    }
    case 'openai': {
      if (options.backendUrl == null) {
        throw new BackendConfigError('--backend openai needs --backend-url, the base URL as the OpenAI SDK takes it (e.g. http://127.0.0.1:8080/v1)')
      }
      const { createOpenAIBackend } = await import('./openai.js')
      return createOpenAIBackend({ baseUrl: options.backendUrl, apiKey: options.backendKey, logger: options.logger })
    }
    case 'embedded': {
      const { createEmbeddedFromOptions } = await import('./embedded-default.js')
      return await createEmbeddedFromOptions(options)
    }
  }
}
