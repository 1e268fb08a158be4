// What every LlmClient does the same way, wherever the model runs: default bounds, close and
// `await using`, errors named after the abort source, and streaming as an async iterator.
import { pushable } from 'it-pushable'
import { AbortedError } from '../completion/errors.js'
import type { ModelInfo } from '../completion/service.js'
import type { CompleteOptions, CompletionRequest } from '../completion/types.js'
import type { ClusterJson } from '../api/cluster-json.js'
import { fromAbortReason } from '../backends/upstream.js'
import { DEFAULT_COMPLETION_TIMEOUT_MS, DEFAULT_QUERY_TIMEOUT_MS } from './constants.js'
import { linkSignals } from '../util/linked-abort.js'
import type { CallOptions, CompletionAnswer, LlmClient, StreamEvent } from './types.js'

/** Where the calls go: a peer in this process, or a peer's HTTP API. Every call gets a signal. */
export interface ClientTransport {
  complete: (request: CompletionRequest, options: CompleteOptions) => Promise<CompletionAnswer>
  models: (signal: AbortSignal) => Promise<ModelInfo[]>
  cluster: (signal: AbortSignal) => Promise<ClusterJson>
  /** Releases what the transport holds; called once, after the calls in flight were aborted. */
  close: () => Promise<void>
}

export function createLlmClient (transport: ClientTransport): LlmClient {
  const lifetime = new AbortController()
  let closing: Promise<void> | undefined

  /**
   * Runs `call` with the caller's signal (or the default bound) and the client's lifetime. When
   * a signal fired, its reason names the failure: a timeout is a TimeoutError, an abort an
   * AbortedError, whatever the transport made of the cut-off call.
   */
  const run = async <T>(options: CallOptions | undefined, defaultTimeoutMs: number, call: (signal: AbortSignal) => Promise<T>): Promise<T> => {
    if (lifetime.signal.aborted) throw lifetime.signal.reason
    // Not AbortSignal.any(): on Node 20 it leaks on the long-lived lifetime signal, per call (issue 25).
    const linked = linkSignals([options?.signal ?? AbortSignal.timeout(defaultTimeoutMs), lifetime.signal])
    const signal = linked.signal
    try {
      return await call(signal)
    } catch (err) {
      if (signal.aborted) throw fromAbortReason(signal.reason)
      throw err
    } finally {
      linked.release()
    }
  }

  async function * stream (request: CompletionRequest, options?: CallOptions): AsyncGenerator<StreamEvent, void, undefined> {
    // Our own abort for a consumer that leaves the loop early: the generation stops with it.
    const left = new AbortController()
    const bound = options?.signal ?? AbortSignal.timeout(DEFAULT_COMPLETION_TIMEOUT_MS)
    const events = pushable<StreamEvent>({ objectMode: true })
    // `bound` may be a caller's long-lived signal: linked, not AbortSignal.any() (issue 25).
    const linked = linkSignals([bound, left.signal])
    const running = run({ signal: linked.signal }, DEFAULT_COMPLETION_TIMEOUT_MS, async signal =>
      await transport.complete(request, { signal, onDelta: delta => { events.push({ type: 'delta', content: delta.content }) } })
    ).then(
      answer => { events.push({ type: 'done', answer }); events.end() },
      err => { events.end(err) }
    )
    try {
      yield * events
    } finally {
      left.abort(new AbortedError('the stream was left before its end'))
      await running
      linked.release()
    }
  }

  const close = async (): Promise<void> => {
    closing ??= (async () => {
      lifetime.abort(new AbortedError('the client was closed'))
      await transport.close()
    })()
    await closing
  }

  return {
    complete: async (request, options) => await run(options, DEFAULT_COMPLETION_TIMEOUT_MS, async signal => await transport.complete(request, { signal })),
    stream,
    models: async options => await run(options, DEFAULT_QUERY_TIMEOUT_MS, transport.models),
    cluster: async options => await run(options, DEFAULT_QUERY_TIMEOUT_MS, transport.cluster),
    close,
    [Symbol.asyncDispose]: close
  }
}
