import type { Logger } from '../log.js'

// What `start` hands the backend factory. Its own module so the factory (index.ts) and each
// backend's option reader (embedded-default.ts) import it without importing each other.

export type BackendKind = 'embedded' | 'ollama' | 'openai' | 'none'

export interface BackendOptions {
  backend: BackendKind
  backendUrl?: string
  backendKey?: string
  modelFile?: string
  /** Embedded: reuse each sequence's evaluated tokens across requests (default true; see EmbeddedBackendInit). */
  promptCache?: boolean
  dataDir: string
  logger: Logger
  /** Model load progress for large files (0..1). */
  onProgress?: (fraction: number) => void
  /**
   * Embedded with the bundled tiny model: load it in the background, beginning once `after`
   * resolves (the ready line), so the peer is ready at once (`start`); `onError` gets a load that
   * failed. Absent: loaded before createBackend returns.
   */
  deferLoad?: { onError: (err: unknown) => void, after?: Promise<void> }
}
