// Model honesty: a peer announces, lists and accepts only models its backend really has. Pure
// rules here (table-tested); the polling that feeds them is model-watch.ts.
import type { Backend } from '../completion/types.js'

/** What one ask of the backend's model list gave. */
export type Listing = { ok: true, models: readonly string[] } | { ok: false, reason: string }

export interface ModelDecision {
  /** What the peer announces and accepts. */
  models: string[]
  /** Configured names the backend answered without (empty when it did not answer). */
  missing: string[]
}

/** Failed listings in a row before a backend that answered before counts as down: one slow answer is not an outage. */
export const DOWN_AFTER_FAILED_CHECKS = 2

/** Ollama resolves a name without a tag to `:latest`; so do we, on both sides. */
function withTag (name: string): string {
  const tagAt = name.lastIndexOf(':')
  return tagAt > name.lastIndexOf('/') ? name : `${name}:latest`
}

export function sameModel (a: string, b: string): boolean {
  return a === b || withTag(a) === withTag(b)
}

/**
 * Configured names the backend lists (in the configured spelling, which is what clients ask
 * for), or everything it lists when none are configured.
 */
export function servedModels (configured: readonly string[], listed: readonly string[]): ModelDecision {
  if (configured.length === 0) return { models: [...new Set(listed)], missing: [] }
  const models: string[] = []
  const missing: string[] = []
  for (const name of new Set(configured)) {
    (listed.some(l => sameModel(l, name)) ? models : missing).push(name)
  }
  return { models, missing }
}

/**
 * What to announce after a check. A backend that has never answered announces nothing; one that
 * answered before keeps its models through `DOWN_AFTER_FAILED_CHECKS - 1` failed checks.
 */
export function decideModels (configured: readonly string[], listing: Listing, previous: readonly string[], failedInARow: number): ModelDecision {
  if (listing.ok) return servedModels(configured, listing.models)
  return { models: failedInARow < DOWN_AFTER_FAILED_CHECKS ? [...previous] : [], missing: [] }
}

/** What a peer with a backend does not serve right now, and why (announced: status, test and models show it). */
export interface Unserved {
  /** Configured models it does not serve now; empty when it was to serve whatever the backend lists. */
  models: string[]
  /** "backend down: the ollama backend at http://127.0.0.1:11434: connection refused" */
  reason: string
}

/** Bound on an announced reason: it travels in every announcement, within the 4 KiB limit. */
export const MAX_UNSERVED_REASON = 200

/**
 * Pure: what the peer should serve but does not, after a check. A backend that does not answer is
 * down once the peer stops announcing its models (DOWN_AFTER_FAILED_CHECKS); one that answers
 * without a configured model (pulled away since start), or with no model at all, is a problem too.
 */
export function unservedAfter (configured: readonly string[], listing: Listing, decision: ModelDecision, backend: Pick<Backend, 'kind' | 'url'>): Unserved | undefined {
  const reason = (text: string): string => text.length > MAX_UNSERVED_REASON ? `${text.slice(0, MAX_UNSERVED_REASON - 1)}…` : text
  if (!listing.ok) {
    // Still announcing what it had: one failed check is not an outage.
    if (decision.models.length > 0) return undefined
    // Backend errors usually name their server already ("ollama at http://… is unreachable (ECONNREFUSED)").
    const named = backend.url != null && listing.reason.includes(backend.url)
    return { models: [...new Set(configured)], reason: reason(`backend down: ${named ? '' : `${describeBackend(backend).replace(/^the /, '')}: `}${listing.reason}`) }
  }
  if (decision.missing.length > 0) {
    return { models: decision.missing, reason: reason(`not listed by ${describeBackend(backend).replace(/^the /, '')} (${listing.models.length > 0 ? `it has: ${listing.models.join(', ')}` : 'it lists no model'})`) }
  }
  if (decision.models.length === 0) return { models: [], reason: reason(`${describeBackend(backend).replace(/^the /, '')} lists no model`) }
  return undefined
}

/** "the embedded backend", "the ollama backend at http://…": how a user recognises it. */
export function describeBackend (backend: Pick<Backend, 'kind' | 'url'>): string {
  if (backend.kind === 'multi') return `the backends ${backend.url ?? ''}`
  return `the ${backend.kind} backend${backend.url != null ? ` at ${backend.url}` : ''}`
}

function hint (kind: Backend['kind'], missing: readonly string[]): string {
  switch (kind) {
    case 'embedded': return 'set backend: ollama (or openai) for this node, point model_file at that model\'s GGUF, or pass --backend'
    case 'ollama': return `pull it there (ollama pull ${missing[0] ?? '<model>'}) or change the node's model`
    case 'openai': return 'load it on that server or change the node\'s model'
    default: return 'change the node\'s model'
  }
}

/**
 * The one line `start` fails with, e.g. `my-macbook: model "qwen2.5:3b" is not served by the
 * embedded backend (it has: harombe-tiny); set backend: ollama …`.
 */
export function modelNotServedMessage (peerName: string, missing: readonly string[], backend: Pick<Backend, 'kind' | 'url'>, listed: readonly string[]): string {
  const names = missing.map(m => JSON.stringify(m)).join(', ')
  const what = missing.length === 1 ? `model ${names} is` : `models ${names} are`
  const has = listed.length > 0 ? `it has: ${listed.join(', ')}` : 'it lists no model'
  return `${peerName}: ${what} not served by ${describeBackend(backend)} (${has}); ${hint(backend.kind, missing)}`
}

/** A configured model the backend does not have: a config error at start (exit 2). */
export class ModelNotServedError extends Error {
  static name = 'ModelNotServedError'
  name = ModelNotServedError.name
}
