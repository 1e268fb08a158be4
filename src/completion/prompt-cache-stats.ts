// Prompt-cache hits per serving peer, from the request journal: what the dashboard shows as each
// peer's hit rate. Pure, over whatever records the journal still keeps (its recent window).
import type { RequestRecord } from './request-log.js'
import type { NodeRef } from './service.js'

export interface PromptCacheStats {
  node: NodeRef
  /** Answered requests whose backend reported a cached figure (a miss counts, with 0). */
  requests: number
  /** Of those, requests with at least one cached prompt token. */
  hits: number
  promptTokens: number
  cachedTokens: number
}

/**
 * One entry per peer that served an answer with a cached figure, in order of first appearance.
 * Answers without a figure (backends that do not report one) are left out rather than counted
 * as misses: a hit rate nobody measured would be a guess. The token-weighted rate is
 * cachedTokens / promptTokens, the share of prompt tokens that needed no evaluation.
 */
export function promptCacheByPeer (records: Iterable<Pick<RequestRecord, 'outcome' | 'servedBy' | 'promptTokens' | 'cachedTokens'>>): PromptCacheStats[] {
  const byPeer = new Map<string, PromptCacheStats>()
  for (const r of records) {
    if (r.outcome !== 'ok' || r.servedBy == null || r.cachedTokens == null || r.promptTokens == null) continue
    let stats = byPeer.get(r.servedBy.peer_id)
    if (stats == null) {
      stats = { node: r.servedBy, requests: 0, hits: 0, promptTokens: 0, cachedTokens: 0 }
      byPeer.set(r.servedBy.peer_id, stats)
    }
    stats.requests++
    if (r.cachedTokens > 0) stats.hits++
    stats.promptTokens += r.promptTokens
    stats.cachedTokens += Math.min(r.cachedTokens, r.promptTokens)
  }
  return [...byPeer.values()]
}
