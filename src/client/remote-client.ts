import { errorFromCode } from '../completion/errors.js'
import type { NodeRef } from '../completion/service.js'
import type { Backend, BackendRequest, CompleteOptions, CompletionRequest, CompletionResult, Health } from '../completion/types.js'
import type { ClusterJson } from '../http/cluster-json.js'
import { silentLogger, type Logger } from '../log.js'
import { readNdjson } from '../backends/sse.js'
import { createUpstream, type UpstreamCall } from '../backends/upstream.js'
import { UnavailableError } from '../completion/errors.js'

export interface RemoteClientInit {
  /** The peer's HTTP API, e.g. `http://192.0.2.20:8000`. */
  baseUrl: string
  token?: string
  /** Bounds every call; without it only calls made without a signal get a default bound. */
  timeoutMs?: number
  /** Concurrent requests when used as a routing candidate (the remote peer queues the rest). */
  capacity?: number
  logger?: Logger
}

export interface RemoteAnswer extends CompletionResult {
  node: NodeRef
}

export interface RemoteClient extends Backend {
  /** One completion through the peer (it routes it); deltas streamed when `onDelta` is given. */
  complete: (request: CompletionRequest, options: CompleteOptions) => Promise<RemoteAnswer>
  cluster: (signal?: AbortSignal) => Promise<ClusterJson>
}

type StreamLine =
  | { type: 'delta', content: string }
  | ({ type: 'done' } & RemoteAnswer)
  | { type: 'error', error: { code: string, message: string } }

/**
 * A typed HTTP client for any peer (the seed's RemoteLLMClient). It is also a Backend, so a
 * node reachable only over HTTP (host:port + auth_token, no mesh) can be a routing candidate.
 */
export function createRemoteClient (init: RemoteClientInit): RemoteClient {
  const upstream = createUpstream({
    label: `peer at ${init.baseUrl}`,
    baseUrl: init.baseUrl,
    headers: init.token != null && init.token !== '' ? { authorization: `Bearer ${init.token}` } : {},
    timeoutMs: init.timeoutMs,
    logger: init.logger ?? silentLogger()
  })

  // The upstream layer words a 401/403 for backends ("check the backend API key"); here the
  // server is a peer, and what it wants is the bearer token it was started with.
  const explain = (call: UpstreamCall, err: unknown): Error => {
    const error = call.explain(err)
    if (error instanceof UnavailableError && / answered 40[13]\b/.test(error.message)) {
      return new UnavailableError(error.message.replace(' (check the backend API key)', ` (${init.token != null && init.token !== '' ? 'the peer rejected the token' : 'the peer needs a bearer token'})`))
    }
    return error
  }

  const getJson = async <T>(path: string, signal?: AbortSignal): Promise<T> => {
    const call = upstream.call(signal)
    try {
      const response = await upstream.request(call, path)
      return await response.json() as T
    } catch (err) {
      throw explain(call, err)
    } finally {
      call.done()
    }
  }

  return {
    kind: 'remote',
    capacity: init.capacity ?? 4,

    async models (signal) {
      const body = await getJson<{ models: Array<{ name: string }> }>('/api/models', signal)
      return body.models.map(m => m.name)
    },

    async cluster (signal) {
      return await getJson<ClusterJson>('/api/cluster', signal)
    },

    async complete (request: CompletionRequest | BackendRequest, options: CompleteOptions): Promise<RemoteAnswer> {
      const stream = options.onDelta != null
      const call = upstream.call(options.signal)
      try {
        const response = await upstream.request(call, '/api/complete', { json: { ...request, stream } })
        if (!stream) return await response.json() as RemoteAnswer
        if (response.body == null) throw new UnavailableError('empty stream')
        for await (const line of readNdjson<StreamLine>(response.body)) {
          if (line.type === 'delta') options.onDelta?.({ content: line.content })
          else if (line.type === 'error') throw errorFromCode(line.error.code, line.error.message)
          else if (line.type === 'done') {
            const { type: _type, ...answer } = line
            return answer
          }
        }
        // Like the mesh protocol: an answer without its final line is a failure, not a short answer.
        throw new UnavailableError(`${upstream.label}: stream ended before the final answer`)
      } catch (err) {
        throw explain(call, err)
      } finally {
        call.done()
      }
    },

    async health (signal): Promise<Health> {
      return await upstream.health('/healthz', signal)
    },

    async close () {
      upstream.close()
    }
  }
}
