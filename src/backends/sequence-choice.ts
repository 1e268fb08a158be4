// Which free context sequence a request takes when sequences keep their evaluated tokens (the
// embedded prompt cache). Pure, so the rule is a table test; the pool in embedded.ts applies it.

/**
 * A shared prefix shorter than this share of the prompt does not count as a match: taking that
 * sequence would throw away another conversation's cache to save a handful of template tokens.
 * llama-server's `--slot-prompt-similarity` default is the same 0.10.
 */
export const MIN_SHARED_FRACTION = 0.1

/** What the choice needs to know about a free sequence. */
export interface SequenceCandidate {
  /** Tokens the sequence holds (evaluated into its KV cache), in order. */
  readonly tokens: readonly number[]
  /** When it last served a request (any monotonic clock); 0 for never. */
  readonly lastUsed: number
}

export interface SequenceChoice {
  /** Index into the candidates. */
  index: number
  /**
   * Prompt tokens the chosen sequence already holds and need not evaluate again. Never the whole
   * prompt: the last prompt token is always evaluated again, for the logits of the first new token.
   */
  reused: number
}

/** Tokens equal from the start of both lists. */
export function commonPrefixLength (a: readonly number[], b: readonly number[]): number {
  const n = Math.min(a.length, b.length)
  let i = 0
  while (i < n && a[i] === b[i]) i++
  return i
}

/**
 * The longest common token prefix wins, as llama-server picks a slot; ties and prompts that match
 * nothing worth keeping take the least recently used sequence, so the caches used most recently
 * (the conversations most likely to come back) survive. Undefined when there is no candidate.
 */
export function chooseSequence (candidates: readonly SequenceCandidate[], prompt: readonly number[], minSharedFraction = MIN_SHARED_FRACTION): SequenceChoice | undefined {
  if (candidates.length === 0) return undefined
  const reusable = (shared: number): number => Math.max(0, Math.min(shared, prompt.length - 1))
  let best: SequenceChoice | undefined
  let lru = 0
  candidates.forEach((candidate, index) => {
    if (candidate.lastUsed < (candidates[lru]?.lastUsed ?? Infinity)) lru = index
    const reused = reusable(commonPrefixLength(candidate.tokens, prompt))
    if (reused === 0 || reused < minSharedFraction * prompt.length) return
    const current = best == null ? undefined : candidates[best.index]
    if (best == null || reused > best.reused || (reused === best.reused && candidate.lastUsed < (current?.lastUsed ?? Infinity))) {
      best = { index, reused }
    }
  })
  if (best != null) return best
  // Nothing worth keeping matched; the LRU sequence may still share a few tokens (the template's start).
  return { index: lru, reused: reusable(commonPrefixLength(candidates[lru]?.tokens ?? [], prompt)) }
}
