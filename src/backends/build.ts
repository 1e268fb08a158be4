import type { Backend } from '../completion/types.js'
import type { Logger } from '../log.js'
import { BackendConfigError } from './index.js'
import type { BackendSpec } from './backend-spec.js'
import type { BackendOptions } from './backend-options.js'
import { defaultCandidates, DETECT_TIMEOUT_MS, ollamaUrlFromEnv, portOpen, PROPS_TIMEOUT_MS, readSlots, serverLabel, type DetectCandidate } from './server-addresses.js'
import type { Detected } from './detect.js'
import { describeListings } from './model-map.js'
import { createMultiBackend, type MultiMember } from './multi.js'

// From what `start` was asked (a list of backends, or nothing: detect) to the one Backend the
// peer fronts. One backend is passed through as it is; several become a composite (multi.ts).

export type BackendPlan = { mode: 'detect' } | { mode: 'explicit', specs: BackendSpec[] }

export interface BuildInit {
  dataDir: string
  logger: Logger
  onProgress?: (fraction: number) => void
  /** Embedded: reuse each sequence's evaluated tokens across requests (--no-prompt-cache: false). */
  promptCache?: boolean
  /** The embedded tiny model: load it after the ready line (see BackendOptions.deferLoad). */
  deferLoad?: BackendOptions['deferLoad']
  env: Readonly<Record<string, string | undefined>>
  /** Detection's servers (default: Ollama at $OLLAMA_HOST, llama-server 8080, LM Studio 1234); tests inject their mocks' addresses. */
  candidates?: readonly DetectCandidate[]
  detectTimeoutMs?: number
  signal?: AbortSignal
}

export interface BuiltBackends {
  backend: Backend | undefined
  /** With detection: what answered ("ollama 127.0.0.1:11434: a, b · …", or "none: serving the embedded tiny model"). */
  found?: string
  /** With detection: how long asking the servers took (loading the probe code included), ms. */
  detectMs?: number
}

export async function buildBackends (plan: BackendPlan, init: BuildInit): Promise<BuiltBackends> {
  if (plan.mode === 'detect') return await detectAndBuild(init)
  const specs = plan.specs.filter(s => s.kind !== 'none')
  if (specs.length === 0) return { backend: undefined }
  const members: MultiMember[] = []
  try {
    for (const spec of specs) members.push(await buildOne(spec, init))
  } catch (err) {
    await Promise.all(members.map(async m => { await m.backend.close() }))
    throw err
  }
  const only = members[0]
  if (members.length === 1 && only != null) return { backend: only.backend }
  return { backend: createMultiBackend(members, init.logger) }
}

async function buildOne (spec: Exclude<BackendSpec, { kind: 'none' }>, init: BuildInit): Promise<MultiMember> {
  switch (spec.kind) {
    case 'ollama': {
      const { createOllamaBackend } = await import('./ollama.js')
      const url = spec.url ?? ollamaUrlFromEnv(init.env.OLLAMA_HOST)
      return { label: serverLabel('ollama', url), backend: createOllamaBackend({ baseUrl: url, logger: init.logger, ...(spec.capacity != null ? { capacity: spec.capacity } : {}) }) }
    }
    case 'openai': {
      if (spec.url == null) throw new BackendConfigError('--backend openai needs an address: openai=http://127.0.0.1:8080/v1 (or --backend-url), the base URL as the OpenAI SDK takes it')
      const apiKey = spec.key
      const headers: Record<string, string> = apiKey != null ? { authorization: `Bearer ${apiKey}` } : {}
      // The server's own slot count, where it reports one (llama-server), unless the user set one.
      const capacity = spec.capacity ?? await readSlots(spec.url, boundedSignal(PROPS_TIMEOUT_MS, init.signal), headers)
      if (spec.capacity == null && capacity != null) init.logger.info(`${spec.url} reports ${capacity} slots: running ${capacity} completions there at once`)
      const { createOpenAIBackend } = await import('./openai.js')
      return { label: serverLabel('openai', spec.url), backend: createOpenAIBackend({ baseUrl: spec.url, apiKey, logger: init.logger, ...(capacity != null ? { capacity } : {}) }) }
    }
    case 'embedded': {
      const { createEmbeddedFromOptions } = await import('./embedded-default.js')
      const backend = await createEmbeddedFromOptions({ backend: 'embedded', modelFile: spec.modelFile, dataDir: init.dataDir, logger: init.logger, onProgress: init.onProgress, promptCache: init.promptCache, ...(init.deferLoad != null ? { deferLoad: init.deferLoad } : {}) })
      return { label: 'embedded', backend }
    }
  }
}

function boundedSignal (ms: number, signal?: AbortSignal): AbortSignal {
  const bound = AbortSignal.timeout(ms)
  return signal != null ? AbortSignal.any([signal, bound]) : bound
}

/**
 * Every candidate that was asked stays a member, answering or not, so the model watch follows a
 * server that starts later or goes away; the peer's capacity counts the ones that answered at
 * start. When none answered: the embedded tiny model alone, exactly as a peer without detection
 * (a server started later needs a restart: the tiny model is a stand-in, not a member).
 */
async function detectAndBuild (init: BuildInit): Promise<BuiltBackends> {
  const candidates = init.candidates ?? defaultCandidates(init.env)
  const started = performance.now()
  // Each step has its own bound, and loading the probe code sits between them, outside both: on a
  // loaded machine (or through tsx) that load alone can take longer than a probe may.
  const portSignal = boundedSignal(init.detectTimeoutMs ?? DETECT_TIMEOUT_MS, init.signal)
  const open = await Promise.all(candidates.map(async c => await portOpen(c.url, portSignal)))
  let detected: Detected[] = []
  if (open.some(o => o)) {
    const { detectBackends } = await import('./detect.js')
    detected = await detectBackends(candidates, { logger: init.logger, timeoutMs: init.detectTimeoutMs, signal: init.signal })
  }
  const detectMs = Math.round(performance.now() - started)
  const answered = detected.filter(d => d.models != null)
  for (const d of detected) {
    if (d.models == null) init.logger.debug(`detect: ${d.label} did not answer (${d.reason ?? 'no reason'})`)
    else if (d.slots != null) init.logger.info(`detect: ${d.label} reports ${d.slots} slots`)
  }
  if (answered.length === 0) {
    await Promise.all(detected.map(async d => { await d.backend.close() }))
    const { createEmbeddedFromOptions } = await import('./embedded-default.js')
    const embedded = await createEmbeddedFromOptions({ backend: 'embedded', dataDir: init.dataDir, logger: init.logger, onProgress: init.onProgress, promptCache: init.promptCache, ...(init.deferLoad != null ? { deferLoad: init.deferLoad } : {}) })
    return { backend: embedded, detectMs, found: `no LLM server answered (${candidates.map(c => serverLabel(c.name, c.url)).join(', ')}); serving the embedded tiny model` }
  }
  const members: MultiMember[] = detected.map(d => ({ label: d.label, backend: d.backend }))
  const capacity = answered.reduce((sum, d) => sum + d.backend.capacity, 0)
  return { backend: createMultiBackend(members, init.logger, { capacity }), detectMs, found: describeListings(detected.map(d => ({ label: d.label, models: d.models }))) }
}
