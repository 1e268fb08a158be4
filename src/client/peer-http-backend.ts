// A peer reached over its HTTP API, shaped as a Backend: a node reachable only over HTTP
// (host:port + auth_token, no mesh) is then a routing candidate, and the CLI's `complete` and
// `test` use it to send one completion. Agent code uses the public RemoteClient instead.
import { BadRequestError, UnauthorizedError, UnavailableError } from '../completion/errors.js'
import { EmbeddingRefusedError } from '../embeddings/errors.js'
import type { EmbeddingRequest, EmbeddingResult, EmbedOptions } from '../embeddings/types.js'
import type { Backend, BackendRequest, CompleteOptions, CompletionRequest } from '../completion/types.js'
import type { ModelInfo } from '../completion/service.js'
import type { ClusterJson } from '../api/cluster-json.js'
import { createPeerHttp, type PeerHttpInit } from './peer-http.js'
import type { CompletionAnswer } from './types.js'

export interface PeerHttpBackendInit extends PeerHttpInit {
  /** Concurrent requests when used as a routing candidate (the remote peer queues the rest). */
  capacity?: number
}

export interface PeerHttpBackend extends Backend {
  /** One completion through the peer (it routes it); deltas streamed when `onDelta` is given. */
  complete: (request: CompletionRequest | BackendRequest, options: CompleteOptions) => Promise<CompletionAnswer>
  cluster: (signal?: AbortSignal) => Promise<ClusterJson>
  /** Embeddings through the peer's `/v1/embeddings` (it routes them), vectors as base64 float32. */
  embed: (request: EmbeddingRequest, options: EmbedOptions) => Promise<EmbeddingResult>
}

/** What a peer answers when none of its peers can embed with the model (embeddings/dispatcher.ts). */
const REMOTE_REFUSAL = /can embed with it|cannot embed|does not support embeddings|--embeddings/

interface OpenAIEmbeddings { data?: Array<{ index?: number, embedding?: unknown }>, model?: string, usage?: { prompt_tokens?: number } }

export function createPeerHttpBackend (init: PeerHttpBackendInit): PeerHttpBackend {
  const http = createPeerHttp(init)
  const tokenSent = init.token != null && init.token !== ''

  // A refused token is this node's configuration, not the request: as a routing candidate another
  // peer may still serve (retryable), and the CLI words it from the message.
  const asBackendError = (err: unknown): unknown => err instanceof UnauthorizedError
    ? new UnavailableError(`${err.message} (${tokenSent ? 'the peer rejected the token' : 'the peer needs a bearer token'})`)
    : err
  const rethrow = async <T>(work: Promise<T>): Promise<T> => {
    try {
      return await work
    } catch (err) {
      throw asBackendError(err)
    }
  }

  return {
    kind: 'remote',
    capacity: init.capacity ?? 4,
    models: async signal => (await rethrow(http.getJson<{ models: ModelInfo[] }>('/api/models', signal))).models.map(m => m.name),
    cluster: async signal => await rethrow(http.getJson<ClusterJson>('/api/cluster', signal)),
    complete: async (request, options) => await rethrow(http.complete(request, options)),
    async embed (request, { signal }) {
      let body: OpenAIEmbeddings
      try {
        // base64: 4 bytes a value on the wire as 5⅓ characters, not ~19 as a JSON number.
        body = await rethrow(http.postJson<OpenAIEmbeddings>('/v1/embeddings', {
          model: request.model,
          input: request.input,
          encoding_format: 'base64',
          ...(request.dimensions != null ? { dimensions: request.dimensions } : {})
        }, signal))
      } catch (err) {
        // The node's own peers cannot embed with the model: skip it for this model, as a refusing peer.
        if (err instanceof BadRequestError && REMOTE_REFUSAL.test(err.message)) throw new EmbeddingRefusedError(err.message)
        throw err
      }
      return embeddingsFrom(body, request, http.label)
    },
    health: async signal => await http.health(signal),
    close: async () => { http.close() }
  }
}

/** The vectors of an OpenAI-shaped answer with base64 embeddings, in input order. */
function embeddingsFrom (body: OpenAIEmbeddings, request: EmbeddingRequest, label: string): EmbeddingResult {
  const data = body?.data
  if (!Array.isArray(data) || data.length !== request.input.length) throw new UnavailableError(`${label} answered /v1/embeddings without one vector per input`)
  const embeddings = [...data].sort((a, b) => Number(a.index ?? 0) - Number(b.index ?? 0)).map((d, i) => {
    if (typeof d.embedding !== 'string') throw new UnavailableError(`${label} sent vector ${i} not as base64`)
    const bytes = Buffer.from(d.embedding, 'base64')
    if (bytes.byteLength % 4 !== 0) throw new UnavailableError(`${label} sent vector ${i} of ${bytes.byteLength} bytes, not whole float32 values`)
    const vector = new Float32Array(bytes.byteLength / 4)
    for (let j = 0; j < vector.length; j++) vector[j] = bytes.readFloatLE(j * 4)
    return vector
  })
  return { model: typeof body.model === 'string' ? body.model : request.model, embeddings, prompt_tokens: typeof body.usage?.prompt_tokens === 'number' ? body.usage.prompt_tokens : 0 }
}
