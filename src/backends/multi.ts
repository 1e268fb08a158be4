import type { Backend, Health } from '../completion/types.js'
import type { Load } from '../membership/types.js'
import type { Logger } from '../log.js'
import { UnavailableError, UnknownModelError } from '../completion/errors.js'
import { EmbeddingRefusedError } from '../embeddings/errors.js'
import { createLocalExecutor, type LocalExecutor } from '../completion/local-executor.js'
import { buildModelMap, describeListings, ownerOf, type MemberListing, type ModelMap } from './model-map.js'
import { DOWN_AFTER_FAILED_CHECKS } from './served-models.js'
import { createOnce } from '../util/capped.js'

// Several backends behind one peer, as one Backend: the peer, its model watch and the mesh see a
// single list of models (the announcement keeps its shape), and each request goes to the member
// that lists its model. Each member has its own capacity and queue, so a busy llama-server does
// not hold up Ollama's models, and the peer's capacity is their sum.

export interface MultiMember {
  /** "ollama 127.0.0.1:11434", "lmstudio 127.0.0.1:1234". */
  label: string
  backend: Backend
}

export interface MultiBackend extends Backend {
  /** Each member's latest listing (undefined: has not answered), for the start line and logs. */
  listings: () => MemberListing[]
  /** Completions running and queued on each member. */
  loads: () => Array<{ label: string, load: Load }>
}

/** Queue depth per slot, as the peer uses for one backend: absorb a burst, fail over fast. */
const QUEUE_PER_SLOT = 4

export interface MultiOptions {
  /** The peer's capacity; default the sum of the members'. Detection counts only the servers that answered. */
  capacity?: number
  /**
   * Bound on listing a member that has never answered (a detected server that is not running):
   * a filtered port must not hold every listing, the first one at start included, for the full
   * listing timeout. Default 250 ms, detection's bound.
   */
  unansweredTimeoutMs?: number
}

const UNANSWERED_TIMEOUT_MS = 250

/** Model-name clashes remembered as warned; past it the oldest may be warned about again. */
const MAX_WARNED_CLASHES = 256

export function createMultiBackend (members: readonly MultiMember[], logger: Logger, options: MultiOptions = {}): MultiBackend {
  if (members.length === 0) throw new RangeError('createMultiBackend: no members')
  const executors: LocalExecutor[] = members.map(m => createLocalExecutor({ backend: m.backend, maxQueue: Math.max(1, m.backend.capacity) * QUEUE_PER_SLOT }))
  const state = members.map(() => ({ models: undefined as string[] | undefined, failedInARow: 0, answered: false }))
  let map: ModelMap = buildModelMap([])
  // Model names come and go with pulls on the servers behind us: the clashes warned about are capped.
  const warned = createOnce(MAX_WARNED_CLASHES)

  const listings = (): MemberListing[] => members.map((m, i) => ({ label: m.label, models: state[i]?.models }))

  const remap = (): void => {
    map = buildModelMap(listings())
    for (const d of map.duplicates) {
      const key = `${d.model}\n${d.servedBy}\n${d.ignored}`
      if (!warned.first(key)) continue
      logger.warn(`model ${d.model} is listed by ${d.servedBy} and ${d.ignored}; ${d.servedBy} (listed first) serves it`)
    }
  }

  const ownerMember = (model: string): MultiMember => {
    const index = ownerOf(map, model)
    const member = index != null ? members[index] : undefined
    if (member == null) throw new UnknownModelError(`no backend of this peer lists ${model}`)
    return member
  }

  return {
    kind: 'multi',
    url: members.map(m => m.label).join(' + '),
    capacity: Math.max(1, options.capacity ?? members.reduce((sum, m) => sum + Math.max(1, m.backend.capacity), 0)),
    listings,
    describe: () => describeListings(listings()),
    loads: () => members.map((m, i) => ({ label: m.label, load: executors[i]?.load() ?? { active: 0, queued: 0, capacity: m.backend.capacity } })),

    async models (signal) {
      const results = await Promise.allSettled(members.map(async (m, i) => {
        if (state[i]?.answered === true) return await m.backend.models(signal)
        const bound = AbortSignal.timeout(options.unansweredTimeoutMs ?? UNANSWERED_TIMEOUT_MS)
        return await m.backend.models(signal != null ? AbortSignal.any([signal, bound]) : bound)
      }))
      if (signal?.aborted === true) throw signal.reason
      const reasons: string[] = []
      results.forEach((result, i) => {
        const s = state[i]
        if (s == null) return
        if (result.status === 'fulfilled') {
          s.models = [...result.value]
          s.failedInARow = 0
          s.answered = true
        } else {
          s.failedInARow++
          reasons.push(`${members[i]?.label ?? '?'}: ${String((result.reason as Error)?.message ?? result.reason)}`)
          // One slow answer is not an outage (the same rule as for a single backend).
          if (s.failedInARow >= DOWN_AFTER_FAILED_CHECKS) s.models = undefined
        }
      })
      remap()
      if (results.every(r => r.status === 'rejected')) throw new UnavailableError(`no backend answers (${reasons.join('; ')})`)
      return [...map.models]
    },

    digests () {
      const out: Record<string, string> = {}
      for (const [model, index] of map.owner) {
        const digest = members[index]?.backend.digests?.()[model]
        if (digest != null) out[model] = digest
      }
      return out
    },

    async complete (request, options) {
      const index = ownerOf(map, request.model)
      const executor = index != null ? executors[index] : undefined
      if (executor == null) throw new UnknownModelError(`no backend of this peer lists ${request.model}`)
      return await executor.execute(request, options)
    },

    // Embeddings and model details go to the member that lists the model, as completions do.
    async embed (request, options) {
      const { label, backend } = ownerMember(request.model)
      if (backend.embed == null) throw new EmbeddingRefusedError(`${label} cannot embed`)
      return await backend.embed(request, options)
    },

    async show (model, signal) {
      const { backend } = ownerMember(model)
      return backend.show != null ? await backend.show(model, signal) : { model }
    },

    async ps (signal) {
      const running = await Promise.all(members.map(async m => await m.backend.ps?.(signal).catch(() => []) ?? []))
      return running.flat()
    },

    async health (signal): Promise<Health> {
      const results = await Promise.all(members.map(async m => await m.backend.health(signal).catch((err: Error): Health => ({ ok: false, reason: err.message }))))
      const ok = results.flatMap(r => r.ok ? [r.latencyMs] : [])
      if (ok.length > 0) return { ok: true, latencyMs: Math.min(...ok) }
      return { ok: false, reason: results.map((r, i) => `${members[i]?.label ?? '?'}: ${r.ok ? 'ok' : r.reason}`).join('; ') }
    },

    async close () {
      await Promise.all(members.map(async m => { await m.backend.close() }))
    }
  }
}
