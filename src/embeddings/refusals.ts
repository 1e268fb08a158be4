// Which (peer, model) pairs refused to embed, remembered by the entry peer so it stops sending
// embeddings there. A refusal holds until the peer's model list changes (a restart with
// `--embeddings`, another model loaded under the name): then the pair gets a new chance. The
// server's reason is kept, so a client that finds no peer able to embed hears every peer's reason.

export interface Refusals {
  /** True while `peerId` refused `model` and its models are still `models`. */
  refused: (peerId: string, model: string, models: readonly string[]) => boolean
  /** Why `peerId` refused `model` (the server's words), while the refusal holds. */
  reason: (peerId: string, model: string) => string | undefined
  record: (peerId: string, model: string, models: readonly string[], reason?: string) => void
  /** Pairs remembered now. */
  readonly size: number
}

/** Pairs remembered at most; past it the oldest is forgotten (it only costs one more refused attempt). */
export const MAX_REFUSALS = 1_024

/** A remembered reason is cut here: it is repeated in error messages, not stored as evidence. */
const MAX_REASON_CHARS = 300

export function createRefusals (limit = MAX_REFUSALS): Refusals {
  const byPair = new Map<string, { print: string, reason?: string }>()
  const key = (peerId: string, model: string): string => `${peerId}\u0000${model}`
  const print = (models: readonly string[]): string => models.join('\u0000')
  return {
    refused (peerId, model, models) {
      const k = key(peerId, model)
      const seen = byPair.get(k)
      if (seen == null) return false
      if (seen.print === print(models)) return true
      byPair.delete(k)
      return false
    },
    reason: (peerId, model) => byPair.get(key(peerId, model))?.reason,
    record (peerId, model, models, reason) {
      const k = key(peerId, model)
      byPair.delete(k)
      byPair.set(k, { print: print(models), ...(reason != null ? { reason: reason.slice(0, MAX_REASON_CHARS) } : {}) })
      if (byPair.size > limit) byPair.delete(byPair.keys().next().value as string)
    },
    get size () { return byPair.size }
  }
}
