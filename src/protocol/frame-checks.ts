import { MAX_REQUEST_TOKENS } from '../completion/token-budget.js'
import { MAX_KEEP_ALIVE_CHARS, MAX_KEY_CHARS, MAX_REQUEST_ID_LENGTH } from './constants.js'

// Hand-written checks of the frame schemas in frames.ts, for the hot path: zod costs tens of
// microseconds per frame and showed up in the routed-path profile (BENCHMARKS.md section 8).
//
// Each check answers only "certainly valid". True means the zod schema accepts the value and its
// output equals the input (no unknown keys to strip, no value zod would transform); false means
// "ask zod", which then accepts, or rejects with the reason tests and logs expect. A check that is
// too strict only costs speed, never a different answer (test/unit/frame-checks.test.ts compares
// both on random and mutated frames).

type Obj = Record<string, unknown>

/** An object literal's kind of object; anything else (an array, a class instance) goes the slow way. */
export function isPlainObject (v: unknown): v is Obj {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false
  const proto = Object.getPrototypeOf(v)
  return proto === Object.prototype || proto === null
}

/** Keys all in `allowed` (zod would strip any other). */
function hasOnlyKeys (v: Obj, allowed: ReadonlySet<string>): boolean {
  for (const key in v) if (!allowed.has(key)) return false
  return true
}

const isString = (v: unknown, min = 0, max = Infinity): v is string => typeof v === 'string' && v.length >= min && v.length <= max
const optional = (v: unknown, check: (v: unknown) => boolean): boolean => v === undefined || check(v)
const isCount = (v: unknown): boolean => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0
const isTier = (v: unknown): boolean => v === 0 || v === 1 || v === 2
const isName = (v: unknown): boolean => isString(v, 1, 256)

function isArrayOf (v: unknown, max: number, check: (item: unknown) => boolean, min = 0): boolean {
  if (!Array.isArray(v) || v.length < min || v.length > max) return false
  for (let i = 0; i < v.length; i++) if (!check(v[i])) return false
  return true
}

const TOOL_CALL_KEYS = new Set(['id', 'type', 'function'])
const FUNCTION_CALL_KEYS = new Set(['name', 'arguments'])
function isToolCall (v: unknown): boolean {
  if (!isPlainObject(v) || !hasOnlyKeys(v, TOOL_CALL_KEYS)) return false
  const fn = v.function
  return isString(v.id, 0, 256) && v.type === 'function' &&
    isPlainObject(fn) && hasOnlyKeys(fn, FUNCTION_CALL_KEYS) && isName(fn.name) && isString(fn.arguments)
}

const TOOL_KEYS = new Set(['type', 'function'])
const FUNCTION_KEYS = new Set(['name', 'description', 'parameters'])
function isToolDefinition (v: unknown): boolean {
  if (!isPlainObject(v) || !hasOnlyKeys(v, TOOL_KEYS) || v.type !== 'function') return false
  const fn = v.function
  if (!isPlainObject(fn) || !hasOnlyKeys(fn, FUNCTION_KEYS) || !isName(fn.name) || !optional(fn.description, isString)) return false
  // A record keeps its values as they are, but rebuilds the object: a `__proto__` key would not survive.
  const p = fn.parameters
  return p === undefined || (isPlainObject(p) && !Object.hasOwn(p, '__proto__'))
}

const ROLES = new Set(['system', 'user', 'assistant', 'tool'])
const MESSAGE_KEYS = new Set(['role', 'content', 'tool_calls', 'tool_call_id', 'name'])
function isChatMessage (v: unknown): boolean {
  if (!isPlainObject(v) || !hasOnlyKeys(v, MESSAGE_KEYS)) return false
  const role = v.role
  if (typeof role !== 'string' || !ROLES.has(role)) return false
  // Only an assistant turn that made tool calls may have no text.
  if (!(typeof v.content === 'string' || (v.content === null && role === 'assistant'))) return false
  return optional(v.tool_calls, t => isArrayOf(t, 256, isToolCall)) &&
    optional(v.tool_call_id, t => isString(t, 0, 256)) &&
    optional(v.name, t => isString(t, 0, 256))
}

const REQUEST_KEYS = new Set(['messages', 'tools', 'temperature', 'max_tokens', 'model', 'tier', 'stop', 'continuation', 'affinity_key', 'prompt_cache_key', 'cache_prompt', 'keep_alive', 'raw'])
const CONTINUATION_KEYS = new Set(['prefix'])
const isStop = (v: unknown): boolean => isArrayOf(v, 16, s => isString(s, 1, 256))
const isTemperature = (v: unknown): boolean => typeof v === 'number' && v >= 0 && v <= 2
export const isMaxTokens = (v: unknown): boolean => typeof v === 'number' && Number.isSafeInteger(v) && v > 0 && v <= MAX_REQUEST_TOKENS
const isKey = (v: unknown): boolean => isString(v, 0, MAX_KEY_CHARS)
const isKeepAlive = (v: unknown): boolean => isString(v, 0, MAX_KEEP_ALIVE_CHARS) || (typeof v === 'number' && Number.isFinite(v))

/** The CompletionRequest schema's rules (frames.ts), for a request that needs no stripping. */
export function isCompletionRequest (v: unknown): boolean {
  if (!isPlainObject(v) || !hasOnlyKeys(v, REQUEST_KEYS)) return false
  const c = v.continuation
  return isArrayOf(v.messages, 100_000, isChatMessage, 1) &&
    optional(v.tools, t => isArrayOf(t, 1_024, isToolDefinition)) &&
    optional(v.temperature, isTemperature) &&
    optional(v.max_tokens, isMaxTokens) &&
    optional(v.model, isName) &&
    optional(v.tier, isTier) &&
    optional(v.stop, isStop) &&
    optional(v.affinity_key, isKey) &&
    optional(v.prompt_cache_key, isKey) &&
    optional(v.cache_prompt, b => typeof b === 'boolean') &&
    optional(v.keep_alive, isKeepAlive) &&
    optional(v.raw, b => typeof b === 'boolean') &&
    (c === undefined || (isPlainObject(c) && hasOnlyKeys(c, CONTINUATION_KEYS) && isString(c.prefix)))
}

const REQUEST_FRAME_KEYS = new Set(['id', 'request'])
export function isRequestFrame (v: unknown): boolean {
  return isPlainObject(v) && hasOnlyKeys(v, REQUEST_FRAME_KEYS) && isString(v.id, 1, MAX_REQUEST_ID_LENGTH) && isCompletionRequest(v.request)
}

const DELTA_KEYS = new Set(['type', 'content', 'tokens'])
const DONE_KEYS = new Set(['type', 'message', 'finish_reason', 'model', 'usage', 'served_by', 'load'])
const ERROR_KEYS = new Set(['type', 'code', 'message', 'retryable'])
const DONE_MESSAGE_KEYS = new Set(['role', 'content', 'tool_calls'])
const USAGE_KEYS = new Set(['prompt_tokens', 'completion_tokens', 'prompt_tokens_details'])
const USAGE_DETAILS_KEYS = new Set(['cached_tokens'])
const SERVED_BY_KEYS = new Set(['name', 'peer_id', 'tier'])
const LOAD_KEYS = new Set(['active', 'queued', 'capacity'])
const FINISH_REASONS = new Set(['stop', 'length', 'tool_calls'])

function isDone (v: Obj): boolean {
  if (!hasOnlyKeys(v, DONE_KEYS)) return false
  const { message: m, usage: u, served_by: s, load: l, finish_reason: f } = v
  return isPlainObject(m) && hasOnlyKeys(m, DONE_MESSAGE_KEYS) && m.role === 'assistant' &&
    (typeof m.content === 'string' || m.content === null) && optional(m.tool_calls, t => isArrayOf(t, 256, isToolCall)) &&
    typeof f === 'string' && FINISH_REASONS.has(f) && isName(v.model) &&
    isPlainObject(u) && hasOnlyKeys(u, USAGE_KEYS) && isCount(u.prompt_tokens) && isCount(u.completion_tokens) &&
    optional(u.prompt_tokens_details, d => isPlainObject(d) && hasOnlyKeys(d, USAGE_DETAILS_KEYS) && isCount(d.cached_tokens)) &&
    (s === undefined || (isPlainObject(s) && hasOnlyKeys(s, SERVED_BY_KEYS) && isString(s.name, 1, 128) && isString(s.peer_id, 1, 128) && isTier(s.tier))) &&
    (l === undefined || (isPlainObject(l) && hasOnlyKeys(l, LOAD_KEYS) && isCount(l.active) && isCount(l.queued) && isCount(l.capacity)))
}

/** The response frame schemas' rules (frames.ts), for a frame that needs no stripping. */
export function isResponseFrame (v: unknown): boolean {
  if (!isPlainObject(v)) return false
  switch (v.type) {
    case 'delta': return hasOnlyKeys(v, DELTA_KEYS) && isString(v.content) && optional(v.tokens, isCount)
    case 'done': return isDone(v)
    case 'error': return hasOnlyKeys(v, ERROR_KEYS) && isString(v.code, 1, 64) && isString(v.message) && typeof v.retryable === 'boolean'
    default: return false
  }
}
