import type { FastifyInstance } from 'fastify'
import { DEFAULT_REQUEST_LOG_CAPACITY, tokensPerSecond, type RequestLog, type RequestRecord } from '../completion/request-log.js'
import type { NodeRef } from '../completion/service.js'
import { promptCacheByPeer, type PromptCacheStats } from '../completion/prompt-cache-stats.js'
import { harombeError } from './harombe-routes.js'

/** One request as the dashboard reads it. The names are a contract: the dashboard consumes them as they are. */
export interface RequestJson {
  id: string
  /** Absent for completions; `embedding` for embedding requests. */
  kind?: 'embedding'
  inputs?: number
  started_at: string
  api: RequestRecord['api']
  model: string
  stream: boolean
  outcome: RequestRecord['outcome']
  error?: string
  served_by?: NodeRef
  attempts: number
  /** Why the router chose the (last) peer tried: warm prefix, session key, rendezvous, load, tier. */
  route_reason?: string
  /** Peers that wrote part of the answer before `served_by` continued it, in order. */
  handovers?: NodeRef[]
  ttft_ms?: number
  duration_ms: number
  completion_tokens?: number
  tokens_per_s?: number
  prompt_tokens?: number
  /** Prompt tokens the serving backend took from its cache; absent when it reported no figure. */
  cached_tokens?: number
}

/** One serving peer's prompt-cache hits over the requests this peer still lists (the dashboard's hit rate). */
export interface PromptCacheJson {
  served_by: NodeRef
  /** Requests whose backend reported a cached figure. */
  requests: number
  /** Of those, with at least one cached prompt token. */
  hits: number
  prompt_tokens: number
  cached_tokens: number
}

/** Enough for a dashboard table without a query string. */
const DEFAULT_LIMIT = 50

/** Milliseconds to 0.1 ms: finer digits are noise from the clock, not information. */
const ms = (value: number): number => Math.round(value * 10) / 10

export function requestJson (record: RequestRecord): RequestJson {
  const rate = tokensPerSecond(record)
  return {
    id: record.id,
    ...(record.kind != null ? { kind: record.kind } : {}),
    ...(record.inputs != null ? { inputs: record.inputs } : {}),
    started_at: new Date(record.startedAt).toISOString(),
    api: record.api,
    model: record.model,
    stream: record.stream,
    outcome: record.outcome,
    ...(record.error != null ? { error: record.error } : {}),
    ...(record.servedBy != null ? { served_by: { name: record.servedBy.name, peer_id: record.servedBy.peer_id, tier: record.servedBy.tier } } : {}),
    attempts: record.attempts,
    ...(record.routeReason != null ? { route_reason: record.routeReason } : {}),
    ...(record.handovers != null ? { handovers: record.handovers.map(n => ({ name: n.name, peer_id: n.peer_id, tier: n.tier })) } : {}),
    ...(record.ttftMs != null ? { ttft_ms: ms(record.ttftMs) } : {}),
    duration_ms: ms(record.durationMs),
    ...(record.completionTokens != null ? { completion_tokens: record.completionTokens } : {}),
    ...(rate != null ? { tokens_per_s: Math.round(rate * 10) / 10 } : {}),
    ...(record.promptTokens != null ? { prompt_tokens: record.promptTokens } : {}),
    ...(record.cachedTokens != null ? { cached_tokens: record.cachedTokens } : {})
  }
}

export function promptCacheJson (stats: PromptCacheStats): PromptCacheJson {
  const n = stats.node
  return { served_by: { name: n.name, peer_id: n.peer_id, tier: n.tier }, requests: stats.requests, hits: stats.hits, prompt_tokens: stats.promptTokens, cached_tokens: stats.cachedTokens }
}

/** Parses `?limit=`: absent → the default, a whole number 1…max → itself, anything else → an error message. */
export function parseLimit (raw: unknown, max = DEFAULT_REQUEST_LOG_CAPACITY): { ok: true, limit: number } | { ok: false, reason: string } {
  if (raw == null || raw === '') return { ok: true, limit: Math.min(DEFAULT_LIMIT, max) }
  const text = Array.isArray(raw) ? String(raw[raw.length - 1]) : String(raw)
  if (!/^\d+$/.test(text)) return { ok: false, reason: `limit must be a whole number from 1 to ${max}, got "${text}"` }
  const n = Number(text)
  if (n < 1) return { ok: false, reason: `limit must be at least 1, got ${n}` }
  // A larger limit is not an error: the caller asked for everything there is.
  return { ok: true, limit: Math.min(n, max) }
}

/**
 * `GET /api/requests?limit=N`: the most recent completion requests, newest first, and each serving
 * peer's prompt-cache hits over all the requests kept.
 */
export function registerRequestsRoutes (app: FastifyInstance, log: RequestLog): void {
  app.get('/api/requests', async (request, reply) => {
    const parsed = parseLimit((request.query as Record<string, unknown> | undefined)?.limit)
    if (!parsed.ok) {
      await reply.code(400).send(harombeError(400, parsed.reason, 'bad_request'))
      return
    }
    // Hit rates over every record kept, not only the `limit` listed: a dashboard showing 12 rows still sees the window.
    return { requests: log.recent(parsed.limit).map(requestJson), prompt_cache: promptCacheByPeer(log.recent()).map(promptCacheJson) }
  })
}
