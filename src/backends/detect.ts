import type { Backend } from '../completion/types.js'
import type { Logger } from '../log.js'
import { createOllamaBackend } from './ollama.js'
import { createOpenAIBackend } from './openai.js'
import { DETECT_TIMEOUT_MS, readSlots, serverLabel, type DetectCandidate } from './server-addresses.js'

export { DETECT_TIMEOUT_MS, type DetectCandidate } from './server-addresses.js'

// Detection at start when no backend is given: ask the LLM servers a workstation usually runs,
// all at once, each bounded, and serve every one that lists models. The probe is the backend's
// own `models()` (the same request the model watch makes later), so "found" means "it answered
// the way we will talk to it".

export interface Detected {
  candidate: DetectCandidate
  label: string
  /** Built with the slot count the server reported, if it did. */
  backend: Backend
  /** What it listed; undefined when it did not answer in time. */
  models: string[] | undefined
  /** Why not, when it did not answer. */
  reason?: string
  slots?: number
}

export interface DetectOptions {
  logger: Logger
  timeoutMs?: number
  signal?: AbortSignal
}

/** Probes every candidate at once; resolves within about `timeoutMs` whatever they do. */
export async function detectBackends (candidates: readonly DetectCandidate[], options: DetectOptions): Promise<Detected[]> {
  const timeoutMs = options.timeoutMs ?? DETECT_TIMEOUT_MS
  // Node loads its HTTP client (undici) on the first fetch: 60-80 ms measured on this machine under
  // load. A fetch of a data: URL does that load without a network, so it is not spent inside the
  // probes' bound.
  await fetch('data:,').then(async r => await r.arrayBuffer()).catch(() => {})
  return await Promise.all(candidates.map(async candidate => {
    const bound = AbortSignal.timeout(timeoutMs)
    const signal = options.signal != null ? AbortSignal.any([options.signal, bound]) : bound
    const build = (capacity?: number): Backend => candidate.kind === 'ollama'
      ? createOllamaBackend({ baseUrl: candidate.url, logger: options.logger, ...(capacity != null ? { capacity } : {}) })
      : createOpenAIBackend({ baseUrl: candidate.url, logger: options.logger, ...(capacity != null ? { capacity } : {}) })
    const probe = build()
    const [listing, slots] = await Promise.all([
      probe.models(signal).then(models => ({ models }), (err: Error) => ({ reason: err.message })),
      candidate.kind === 'openai' ? readSlots(candidate.url, signal) : Promise.resolve(undefined)
    ])
    const label = serverLabel(candidate.name, candidate.url)
    if (!('models' in listing)) return { candidate, label, backend: probe, models: undefined, reason: listing.reason }
    if (slots == null) return { candidate, label, backend: probe, models: listing.models }
    await probe.close()
    return { candidate, label, backend: build(slots), models: listing.models, slots }
  }))
}
