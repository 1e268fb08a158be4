import { isMaxTokens, isPlainObject } from '../protocol/frame-checks.js'
import { MAX_KEY_CHARS } from '../protocol/constants.js'

// A hand-written check in front of the OpenAIChatRequest schema (request-schemas.ts), for the
// hot path: zod on every chat completion showed in the routed-path profile (BENCHMARKS.md
// section 8). True means the schema accepts the body and returns it unchanged (its objects are
// loose, so unknown fields are kept either way); false means "ask zod", which accepts (with
// defaults or caps applied) or answers 400 with the reason clients see today. Tool definitions,
// tool calls and content parts always take the schema's way. test/unit/openai-fast-check.test.ts
// compares both on random bodies.

const absent = (v: unknown): boolean => v === undefined || v === null
const isStop = (v: unknown): boolean => typeof v === 'string' || (Array.isArray(v) && v.length <= 16 && v.every(s => typeof s === 'string'))

const ROLES = new Set(['system', 'developer', 'user', 'assistant', 'tool'])

function isPlainMessage (m: unknown): boolean {
  if (!isPlainObject(m) || typeof m.role !== 'string' || !ROLES.has(m.role)) return false
  const { content, tool_calls: calls, tool_call_id: callId, name } = m
  return (content === undefined || content === null || typeof content === 'string') &&
    calls === undefined &&
    (callId === undefined || typeof callId === 'string') &&
    (name === undefined || typeof name === 'string')
}

/** A chat request body the OpenAIChatRequest schema would accept and return unchanged. */
export function isPlainOpenAIChat (body: unknown): boolean {
  if (!isPlainObject(body)) return false
  const { model, messages, tools, temperature: t, max_tokens: mt, max_completion_tokens: mct, stop, stream, stream_options: so, tier } = body
  const { prompt_cache_key: pck, user, cache_prompt: cp } = body
  if (!Array.isArray(messages) || messages.length === 0 || !messages.every(isPlainMessage)) return false
  return (model === undefined || typeof model === 'string') &&
    tools === undefined &&
    (absent(t) || (typeof t === 'number' && t >= 0 && t <= 2)) &&
    (absent(mt) || isMaxTokens(mt)) &&
    (absent(mct) || isMaxTokens(mct)) &&
    (absent(stop) || isStop(stop)) &&
    (absent(stream) || typeof stream === 'boolean') &&
    (absent(so) || (isPlainObject(so) && (so.include_usage === undefined || typeof so.include_usage === 'boolean'))) &&
    (tier === undefined || tier === 0 || tier === 1 || tier === 2) &&
    (absent(pck) || (typeof pck === 'string' && pck.length <= MAX_KEY_CHARS)) &&
    (absent(user) || typeof user === 'string') &&
    (absent(cp) || typeof cp === 'boolean')
}
