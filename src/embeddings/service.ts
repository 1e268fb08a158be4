// What the HTTP edge needs from the peer to serve embeddings, whatever the API dialect.
import type { NodeRef } from '../completion/service.js'
import type { EmbeddingResult, EmbedOptions, EmbeddingRequest } from './types.js'

export interface EmbeddedBy {
  result: EmbeddingResult
  node: NodeRef
  attempts: number
}

export interface EmbeddingService {
  embed: (request: EmbeddingRequest, options: EmbedOptions) => Promise<EmbeddedBy>
}
