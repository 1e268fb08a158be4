// A backend whose model loads in the background: the peer starts (and prints its ready line) while
// llama.cpp's binding and the model load, which cost the default start most of its second (issue
// 27). The model's name is known before the load, so it is announced at once; a request that
// arrives during the load waits for it (a cold backend may take a while before its first token
// anyway), and /readyz says "loading" until the model can serve.
import { AbortedError, UnavailableError } from '../completion/errors.js'
import type { Backend, Health } from '../completion/types.js'
import { EmbeddingRefusedError } from '../embeddings/errors.js'

export interface DeferredBackendInit {
  kind: Backend['kind']
  /** The name the loaded backend will list: announced before the load ends. */
  modelName: string
  capacity: number
  defaultMaxTokens?: number
  /** Resolves with the real backend; called once `after` resolves, or at the first completion. */
  load: () => Promise<Backend>
  /**
   * When to begin loading: after the ready line, so loading (CPU-heavy) does not slow the start
   * it was moved out of. A completion that arrives sooner begins it at once.
   */
  after?: Promise<void>
  /** A load that failed: the caller decides (`start` exits 2, as it would have before the ready line). */
  onError: (err: unknown) => void
}

export interface DeferredBackend extends Backend {
  /** Why it cannot serve yet ("loading harombe-tiny"), or undefined once loaded. */
  readonly loading: () => string | undefined
}

export function deferredBackend (init: DeferredBackendInit): DeferredBackend {
  let inner: Backend | undefined
  let failure: Error | undefined
  let closed = false
  let started: Promise<Backend> | undefined
  const begin = (): Promise<Backend> => {
    started ??= init.load().then(backend => { inner = backend; return backend }, (err: Error) => {
      failure = err
      if (!closed) init.onError(err)
      throw err
    })
    // Callers see a failure through each call; this keeps it from being unhandled.
    started.catch(() => {})
    return started
  }
  if (init.after != null) init.after.then(() => { if (!closed) void begin() }, () => {})
  else void begin()

  const ready = async (signal: AbortSignal): Promise<Backend> => {
    if (inner != null) return inner
    if (failure != null) throw new UnavailableError(`model did not load: ${failure.message}`)
    if (signal.aborted) throw new AbortedError('completion aborted while the model was loading')
    const loading = begin()
    return await new Promise<Backend>((resolve, reject) => {
      const onAbort = (): void => { reject(new AbortedError('completion aborted while the model was loading')) }
      signal.addEventListener('abort', onAbort, { once: true })
      loading.then(resolve, (err: Error) => { reject(new UnavailableError(`model did not load: ${err.message}`)) })
        .finally(() => { signal.removeEventListener('abort', onAbort) })
    })
  }

  return {
    kind: init.kind,
    capacity: init.capacity,
    ...(init.defaultMaxTokens != null ? { defaultMaxTokens: init.defaultMaxTokens } : {}),
    loading: () => inner == null ? (failure != null ? `model did not load: ${failure.message}` : `loading ${init.modelName}`) : undefined,
    async models (signal) {
      if (failure != null) throw new UnavailableError(`model did not load: ${failure.message}`)
      return inner != null ? await inner.models(signal) : [init.modelName]
    },
    digests: () => inner?.digests?.() ?? {},
    async health (signal): Promise<Health> {
      if (inner != null) return await inner.health(signal)
      return { ok: false, reason: failure != null ? `model did not load: ${failure.message}` : `loading ${init.modelName}` }
    },
    async complete (request, options) {
      return await (await ready(options.signal)).complete(request, options)
    },
    // Offered before the load (the embedded backend embeds); a loaded backend that cannot is a
    // refusal, which the entry peer remembers for this model as for any server that cannot embed.
    async embed (request, options) {
      const backend = await ready(options.signal)
      if (backend.embed == null) throw new EmbeddingRefusedError(`${init.modelName} cannot embed`)
      return await backend.embed(request, options)
    },
    async show (model, signal) {
      const backend = await ready(signal)
      if (backend.show == null) return { model }
      return await backend.show(model, signal)
    },
    async ps (signal) {
      // Nothing is running until the load ends: answer at once rather than start the load.
      return inner?.ps != null ? await inner.ps(signal) : []
    },
    async close () {
      closed = true
      // Never begun (the peer stopped before its ready line): nothing to close.
      const backend = await started?.catch(() => undefined)
      await backend?.close()
    }
  }
}
