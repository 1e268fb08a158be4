import { BadRequestError } from '../completion/errors.js'

/**
 * A backend's server cannot embed with this model (llama-server without `--embeddings`, a chat-only
 * model). A 400 for the client (the model, as served there, does not do embeddings), but retryable
 * across peers: another peer serving the same name may embed. The entry peer stops offering the
 * model there for embeddings until that peer's model list changes (refusals.ts).
 */
export class EmbeddingRefusedError extends BadRequestError {
  static name = 'EmbeddingRefusedError'
  name = EmbeddingRefusedError.name
  readonly unsupported = true
  constructor (message: string) {
    super(message)
    // Retryable on another peer, as the mesh client marks an error a peer reported retryable.
    Object.defineProperty(this, 'retryable', { value: true })
  }
}

/** Whether an error (local or rebuilt from a peer's answer) says the server cannot embed. */
export function isRefusal (err: unknown): boolean {
  return (err as { unsupported?: unknown } | undefined)?.unsupported === true
}
