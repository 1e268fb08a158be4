// Which (peer, model) pairs refused to embed, remembered by the entry peer so it stops sending
// embeddings there. A refusal holds until the peer's model list changes (a restart with
// `--embeddings`, another model loaded under the name): then the pair gets a new chance.

export interface Refusals {
  /** True while `peerId` refused `model` and its models are still `models`. */
  refused: (peerId: string, model: string, models: readonly string[]) => boolean
  record: (peerId: string, model: string, models: readonly string[]) => void
  /** Pairs remembered now. */
  readonly size: number
}

/** Pairs remembered at most; past it the oldest is forgotten (it only costs one more refused attempt). */
export const MAX_REFUSALS = 1_024

export function createRefusals (limit = MAX_REFUSALS): Refusals {
  const byPair = new Map<string, string>()
  const key = (peerId: string, model: string): string => `${peerId}\u0000${model}`
  const print = (models: readonly string[]): string => models.join('\u0000')
  return {
    refused (peerId, model, models) {
      const k = key(peerId, model)
      const seen = byPair.get(k)
      if (seen == null) return false
      if (seen === print(models)) return true
      byPair.delete(k)
      return false
    },
    record (peerId, model, models) {
      const k = key(peerId, model)
      byPair.delete(k)
      byPair.set(k, print(models))
      if (byPair.size > limit) byPair.delete(byPair.keys().next().value as string)
    },
    get size () { return byPair.size }
  }
}
