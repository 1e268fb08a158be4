import { sameModel } from './served-models.js'

// Several backends behind one peer: which backend serves which model. Pure, table-tested; the
// composite backend (multi.ts) feeds it the members' latest listings.

/** One member's latest listing; `undefined` when it has not answered (it serves nothing then). */
export interface MemberListing {
  /** How the user knows it: "ollama 127.0.0.1:11434". */
  label: string
  models: readonly string[] | undefined
}

export interface Duplicate {
  model: string
  /** The member that serves it (listed first). */
  servedBy: string
  /** The member that also lists it and is not asked for it. */
  ignored: string
}

export interface ModelMap {
  /** Every model served, in member order then listing order. */
  models: string[]
  /** Model → index of the member serving it. */
  owner: ReadonlyMap<string, number>
  duplicates: Duplicate[]
}

/** The first member listing a name serves it (Ollama's `x` and `x:latest` are one name). */
export function buildModelMap (listings: readonly MemberListing[]): ModelMap {
  const models: string[] = []
  const owner = new Map<string, number>()
  const duplicates: Duplicate[] = []
  listings.forEach((listing, index) => {
    for (const model of listing.models ?? []) {
      const first = models.find(m => sameModel(m, model))
      if (first == null) {
        models.push(model)
        owner.set(model, index)
        continue
      }
      const firstIndex = owner.get(first) ?? index
      if (firstIndex !== index) duplicates.push({ model, servedBy: listings[firstIndex]?.label ?? '?', ignored: listing.label })
    }
  })
  return { models, owner, duplicates }
}

/** The member serving `model`: the exact name first, else Ollama's tag rule. */
export function ownerOf (map: ModelMap, model: string): number | undefined {
  const exact = map.owner.get(model)
  if (exact != null) return exact
  const match = map.models.find(m => sameModel(m, model))
  return match != null ? map.owner.get(match) : undefined
}

/** "ollama 127.0.0.1:11434: qwen2.5:3b, llama3.2 · lmstudio 127.0.0.1:1234: phi-4": what start says it found. */
export function describeListings (listings: readonly MemberListing[]): string {
  const answered = listings.filter(l => l.models != null)
  if (answered.length === 0) return 'none'
  return answered.map(l => `${l.label}: ${(l.models ?? []).length > 0 ? (l.models ?? []).join(', ') : 'no model yet'}`).join(' · ')
}

/** One backend in the same words: "ollama 127.0.0.1:11434: a, b" (or its own description). */
export function describeBackendNow (backend: { kind: string, url?: string, describe?: () => string }, models: readonly string[]): string {
  if (backend.describe != null) return backend.describe()
  let where = ''
  try {
    where = backend.url != null ? ` ${new URL(backend.url).host}` : ''
  } catch {}
  return `${backend.kind}${where}: ${models.length > 0 ? models.join(', ') : 'no model yet'}`
}
