import type { Backend } from '../completion/types.js'
import type { Logger } from '../log.js'
import { SHORT_DIGEST_HEX } from '../util/short-digest.js'
import { decideModels, describeBackend, ModelNotServedError, modelNotServedMessage, unservedAfter, type Listing, type Unserved } from './served-models.js'

export interface ModelWatchInit {
  backend: Backend
  peerName: string
  /** Names from `--model` or the node's `model:`; empty = whatever the backend lists. */
  configured: readonly string[]
  /** How often the backend's list is asked again (a model pulled or removed, a backend coming up). */
  intervalMs: number
  /** Bound on one listing. */
  timeoutMs: number
  logger: Logger
  /**
   * Called with the new list (and the digests known for it) whenever what the peer may announce
   * changes, and with what it should serve but does not, and why (undefined: nothing missing).
   */
  onChange: (models: string[], digests: Record<string, string>, unserved: Unserved | undefined) => void
}

export interface ModelWatch {
  /**
   * The first listing. Throws `ModelNotServedError` when the backend answers without a configured
   * model (a config mistake: fail the start). A backend that does not answer is no error: the peer
   * starts with no model and the watch keeps asking.
   */
  first: (signal?: AbortSignal) => Promise<void>
  start: () => void
  stop: () => void
  models: () => string[]
  /** Short digests (16 hex digits) of the announced models the backend knows one for. */
  digests: () => Record<string, string>
  /** What the peer should serve but does not right now, and why. */
  unserved: () => Unserved | undefined
}

/** Pure: the short digests of `models` among what the backend reports. */
export function announcedDigests (models: readonly string[], reported: Readonly<Record<string, string>> | undefined): Record<string, string> {
  const out: Record<string, string> = {}
  for (const model of models) {
    const digest = reported?.[model]?.toLowerCase()
    if (digest != null && digest.length >= SHORT_DIGEST_HEX && /^[0-9a-f]+$/.test(digest)) out[model] = digest.slice(0, SHORT_DIGEST_HEX)
  }
  return out
}

/** Keeps the announced models equal to what the backend really lists. */
export function createModelWatch (init: ModelWatchInit): ModelWatch {
  const backendName = describeBackend(init.backend)
  let models: string[] = []
  let digests: Record<string, string> = {}
  let unserved: Unserved | undefined
  let failedInARow = 0
  let missingShown = ''
  let timer: NodeJS.Timeout | undefined
  let stopped = false

  const list = async (signal?: AbortSignal): Promise<Listing> => {
    const bound = AbortSignal.timeout(init.timeoutMs)
    try {
      return { ok: true, models: await init.backend.models(signal != null ? AbortSignal.any([signal, bound]) : bound) }
    } catch (err: any) {
      if (signal?.aborted === true) throw err
      return { ok: false, reason: String(err?.message ?? err) }
    }
  }

  /** `atStart`: missing models fail the start instead of being logged. */
  const apply = (listing: Listing, atStart = false): string[] => {
    failedInARow = listing.ok ? 0 : failedInARow + 1
    const decision = decideModels(init.configured, listing, models, failedInARow)
    const shown = decision.missing.join(',')
    if (listing.ok && !atStart && shown !== missingShown && decision.missing.length > 0) {
      init.logger.warn(`${modelNotServedMessage(init.peerName, decision.missing, init.backend, listing.models)}; not announced`)
    }
    missingShown = shown
    const nextDigests = announcedDigests(decision.models, init.backend.digests?.())
    const digestsChanged = JSON.stringify(nextDigests) !== JSON.stringify(digests)
    digests = nextDigests
    const nextUnserved = unservedAfter(init.configured, listing, decision, init.backend)
    const unservedChanged = JSON.stringify(nextUnserved) !== JSON.stringify(unserved)
    unserved = nextUnserved
    if (decision.models.join('\n') === models.join('\n')) {
      if (digestsChanged || unservedChanged) init.onChange([...models], { ...digests }, unserved)
    } else {
      const before = models
      models = decision.models
      if (models.length > 0) init.logger.info(`announcing ${models.join(', ')} (listed by ${backendName})`)
      else if (!listing.ok) init.logger.warn(`${backendName} does not answer (${listing.reason}); announcing no model until it lists one, asking every ${init.intervalMs / 1000} s`)
      else init.logger.warn(`${backendName} lists none of the models to serve; announcing none`)
      if (before.length > 0 || models.length > 0 || unservedChanged) init.onChange([...models], { ...digests }, unserved)
    }
    return decision.missing
  }

  const tick = async (): Promise<void> => {
    timer = undefined
    apply(await list())
    if (!stopped) schedule()
  }

  const schedule = (): void => {
    timer = setTimeout(() => { void tick() }, init.intervalMs)
    timer.unref()
  }

  return {
    async first (signal) {
      const listing = await list(signal)
      if (listing.ok) {
        const missing = apply(listing, true)
        if (missing.length > 0) throw new ModelNotServedError(modelNotServedMessage(init.peerName, missing, init.backend, listing.models))
        if (models.length === 0) init.logger.warn(`${backendName} lists no model yet; announcing none, asking every ${init.intervalMs / 1000} s`)
      } else {
        // Nothing was announced yet, so there is nothing to keep: the peer starts with no model.
        failedInARow = 1
        unserved = unservedAfter(init.configured, listing, { models: [], missing: [] }, init.backend)
        init.logger.warn(`${backendName} does not answer (${listing.reason}); starting without a model, asking every ${init.intervalMs / 1000} s`)
      }
    },
    start () {
      stopped = false
      if (timer == null) schedule()
    },
    stop () {
      stopped = true
      clearTimeout(timer)
      timer = undefined
    },
    models: () => models,
    digests: () => digests,
    unserved: () => unserved
  }
}
