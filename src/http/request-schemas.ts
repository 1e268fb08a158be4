import { z } from 'zod'
import type { ChatMessage, CompletionRequest, ToolCall, ToolDefinition } from '../completion/types.js'
import type { Tier } from '../membership/types.js'
import { MAX_REQUEST_TOKENS } from '../completion/token-budget.js'
import { MAX_KEEP_ALIVE_CHARS, MAX_KEY_CHARS } from '../protocol/constants.js'

// Request bodies of the three API dialects, validated at the door and turned into the one
// internal CompletionRequest. Unknown fields (top_p, seed…) are accepted and ignored, as clients
// send them routinely. Cache hints (prompt_cache_key, cache_prompt, keep_alive) pass through.

const Tier = z.union([z.literal(0), z.literal(1), z.literal(2)])
const Temperature = z.number().min(0).max(2)
// Asking for more than any peer generates is not an error: the serving peer answers up to its cap
// with finish_reason `length` (token-budget.ts). The mesh carries at most MAX_REQUEST_TOKENS.
const MaxTokens = z.number().int().positive().transform(n => Math.min(n, MAX_REQUEST_TOKENS))
const Stop = z.union([z.string(), z.array(z.string()).max(16)])
// Affinity (issue 23): a conversation's name routes it to the peer holding its prompt cache.
const Key = z.string().max(MAX_KEY_CHARS)
// Ollama's duration ("5m") or seconds (0 unloads at once, negative keeps it loaded).
const KeepAlive = z.union([z.string().max(MAX_KEEP_ALIVE_CHARS), z.number().finite()])

const TextPart = z.object({ type: z.literal('text'), text: z.string() }).loose()
const Content = z.union([z.string(), z.array(z.union([TextPart, z.object({ type: z.string() }).loose()])), z.null()])

const OpenAIToolCall = z.object({
  id: z.string(),
  type: z.literal('function').default('function'),
  function: z.object({ name: z.string(), arguments: z.string() })
})

const Tool = z.object({
  type: z.literal('function'),
  function: z.object({ name: z.string().min(1), description: z.string().optional(), parameters: z.record(z.string(), z.unknown()).optional() }).loose()
}).loose()

const OpenAIMessage = z.object({
  role: z.enum(['system', 'developer', 'user', 'assistant', 'tool']),
  content: Content.optional(),
  tool_calls: z.array(OpenAIToolCall).optional(),
  tool_call_id: z.string().optional(),
  name: z.string().optional()
}).loose()

export const OpenAIChatRequest = z.object({
  model: z.string().optional(),
  messages: z.array(OpenAIMessage).min(1),
  tools: z.array(Tool).optional(),
  temperature: Temperature.nullish(),
  max_tokens: MaxTokens.nullish(),
  max_completion_tokens: MaxTokens.nullish(),
  stop: Stop.nullish(),
  stream: z.boolean().nullish(),
  stream_options: z.object({ include_usage: z.boolean().optional() }).loose().nullish(),
  tier: Tier.optional(),
  // OpenAI's cache routing key, passed to OpenAI-compatible backends unchanged; also the affinity key.
  prompt_cache_key: Key.nullish(),
  // OpenAI's end-user id: the affinity key when there is no prompt_cache_key (not passed on).
  user: z.string().nullish(),
  // llama-server's switch for its prompt cache, passed on unchanged.
  cache_prompt: z.boolean().nullish()
}).loose()

export const HarombeCompleteRequest = z.object({
  messages: z.array(OpenAIMessage).min(1),
  tools: z.array(Tool).optional(),
  temperature: Temperature.optional(),
  max_tokens: MaxTokens.optional(),
  model: z.string().optional(),
  tier: Tier.optional(),
  stream: z.boolean().optional(),
  peer: z.string().min(1).optional(),
  // A conversation's name for affinity (as header x-harombe-session)
  session: Key.optional()
}).loose()

const OllamaToolCall = z.object({ function: z.object({ name: z.string(), arguments: z.record(z.string(), z.unknown()).default({}) }) }).loose()

const OllamaMessage = z.object({
  role: z.enum(['system', 'user', 'assistant', 'tool']),
  content: z.string().default(''),
  tool_calls: z.array(OllamaToolCall).optional(),
  tool_name: z.string().optional()
}).loose()

const OllamaOptions = z.object({
  temperature: Temperature.optional(),
  num_predict: z.number().int().optional(),
  stop: z.array(z.string()).optional()
}).loose()

export const OllamaChatRequest = z.object({
  model: z.string().min(1),
  // Empty or absent: Ollama's "load the model" request (see ollama-routes.ts).
  messages: z.array(OllamaMessage).default(() => []),
  tools: z.array(Tool).optional(),
  stream: z.boolean().optional(),
  options: OllamaOptions.optional(),
  tier: Tier.optional(),
  keep_alive: KeepAlive.optional(),
  // Ours, as on /api/complete: a conversation's name for affinity (as header x-harombe-session)
  session: Key.optional()
}).loose()

export const OllamaGenerateRequest = z.object({
  model: z.string().min(1),
  prompt: z.string().default(''),
  system: z.string().optional(),
  stream: z.boolean().optional(),
  options: OllamaOptions.optional(),
  tier: Tier.optional(),
  keep_alive: KeepAlive.optional(),
  session: Key.optional()
}).loose()

/** The first problem, as `messages.0.role: Invalid option…`, for a 400's message. */
export function describeZodError (error: z.ZodError): string {
  const issue = error.issues[0]
  if (issue == null) return 'invalid request body'
  const path = issue.path.length > 0 ? issue.path.join('.') : 'body'
  return `${path}: ${issue.message}`
}

function textOf (content: z.infer<typeof Content> | undefined): string | null {
  if (content == null) return null
  if (typeof content === 'string') return content
  return content.map(part => (part.type === 'text' && typeof part.text === 'string' ? part.text : '')).join('')
}

function stopList (stop: z.infer<typeof Stop> | null | undefined): string[] | undefined {
  if (stop == null) return undefined
  return typeof stop === 'string' ? [stop] : stop
}

function tools (list: Array<z.infer<typeof Tool>> | undefined): ToolDefinition[] | undefined {
  return list?.map(t => ({ type: 'function', function: { name: t.function.name, description: t.function.description, parameters: t.function.parameters } }))
}

function openAIMessages (messages: Array<z.infer<typeof OpenAIMessage>>): ChatMessage[] {
  return messages.map(m => ({
    // `developer` is OpenAI's newer name for a system message.
    role: m.role === 'developer' ? 'system' : m.role,
    content: textOf(m.content),
    ...(m.tool_calls != null ? { tool_calls: m.tool_calls as ToolCall[] } : {}),
    ...(m.tool_call_id != null ? { tool_call_id: m.tool_call_id } : {}),
    ...(m.name != null ? { name: m.name } : {})
  }))
}

/** What the HTTP headers add to a request: `x-harombe-tier` and `x-harombe-session`. */
export interface HeaderHints {
  tier?: Tier
  session?: string
}

/**
 * The affinity key: the header wins (the operator's proxy may set it), then the body's keys in
 * the order given. Empty keys are none; an over-long one is cut to the bound (only equality matters).
 */
export function affinityKey (...keys: Array<string | null | undefined>): string | undefined {
  for (const key of keys) if (key != null && key !== '') return key.length > MAX_KEY_CHARS ? key.slice(0, MAX_KEY_CHARS) : key
  return undefined
}

/** Sets the optional fields that have a value (absent stays absent, not `undefined`, on the wire). */
function withDefined (request: CompletionRequest, fields: Pick<CompletionRequest, 'affinity_key' | 'prompt_cache_key' | 'cache_prompt' | 'keep_alive'>): CompletionRequest {
  for (const [key, value] of Object.entries(fields)) if (value != null) (request as unknown as Record<string, unknown>)[key] = value
  return request
}

export function fromOpenAI (body: z.infer<typeof OpenAIChatRequest>, hints: HeaderHints = {}): CompletionRequest {
  return withDefined({
    messages: openAIMessages(body.messages),
    tools: tools(body.tools),
    temperature: body.temperature ?? undefined,
    max_tokens: body.max_completion_tokens ?? body.max_tokens ?? undefined,
    stop: stopList(body.stop),
    model: body.model,
    tier: body.tier ?? hints.tier
  }, {
    affinity_key: affinityKey(hints.session, body.prompt_cache_key, body.user),
    prompt_cache_key: body.prompt_cache_key ?? undefined,
    cache_prompt: body.cache_prompt ?? undefined
  })
}

export function fromHarombe (body: z.infer<typeof HarombeCompleteRequest>, hints: HeaderHints = {}): CompletionRequest {
  return withDefined({
    messages: openAIMessages(body.messages),
    tools: tools(body.tools),
    temperature: body.temperature,
    max_tokens: body.max_tokens,
    model: body.model,
    tier: body.tier ?? hints.tier,
    peer: body.peer
  }, { affinity_key: affinityKey(hints.session, body.session) })
}

function ollamaOptions (options: z.infer<typeof OllamaOptions> | undefined): Pick<CompletionRequest, 'temperature' | 'max_tokens' | 'stop'> {
  return {
    temperature: options?.temperature,
    // Ollama's -1/-2 mean "no limit"; ours is "absent".
    max_tokens: options?.num_predict != null && options.num_predict > 0 ? Math.min(options.num_predict, MAX_REQUEST_TOKENS) : undefined,
    stop: options?.stop
  }
}

export function fromOllamaChat (body: z.infer<typeof OllamaChatRequest>, hints: HeaderHints = {}): CompletionRequest {
  let callCount = 0
  // Ollama has no call ids; OpenAI-compatible upstreams require a tool message to name the call
  // it answers. Each tool result takes the earliest unanswered call with its tool_name (or the
  // earliest unanswered call when it names none).
  let unanswered: ToolCall[] = []
  const messages: ChatMessage[] = body.messages.map(m => {
    const calls = m.tool_calls?.map(c => ({ id: `call_${callCount++}`, type: 'function' as const, function: { name: c.function.name, arguments: JSON.stringify(c.function.arguments) } }))
    if (calls != null) unanswered = [...calls]
    let answers: ToolCall | undefined
    if (m.role === 'tool') {
      answers = unanswered.find(c => m.tool_name == null || c.function.name === m.tool_name)
      unanswered = unanswered.filter(c => c !== answers)
    }
    return {
      role: m.role,
      content: m.content,
      ...(calls != null ? { tool_calls: calls } : {}),
      ...(answers != null ? { tool_call_id: answers.id } : {}),
      ...(m.tool_name != null ? { name: m.tool_name } : {})
    }
  })
  return withDefined({ messages, tools: tools(body.tools), ...ollamaOptions(body.options), model: body.model, tier: body.tier ?? hints.tier }, {
    affinity_key: affinityKey(hints.session, body.session),
    keep_alive: body.keep_alive
  })
}

export function fromOllamaGenerate (body: z.infer<typeof OllamaGenerateRequest>, hints: HeaderHints = {}): CompletionRequest {
  const messages: ChatMessage[] = []
  if (body.system != null) messages.push({ role: 'system', content: body.system })
  messages.push({ role: 'user', content: body.prompt })
  return withDefined({ messages, ...ollamaOptions(body.options), model: body.model, tier: body.tier ?? hints.tier }, {
    affinity_key: affinityKey(hints.session, body.session),
    keep_alive: body.keep_alive
  })
}

/** The routing hints in a request's headers. */
export function headerHints (headers: Record<string, string | string[] | undefined>): HeaderHints {
  const hints: HeaderHints = {}
  const tier = tierHeader(headers['x-harombe-tier'])
  if (tier != null) hints.tier = tier
  const session = headers['x-harombe-session']
  const text = (Array.isArray(session) ? session[0] : session)?.trim()
  if (text != null && text !== '') hints.session = text
  return hints
}

/** `x-harombe-tier: 2` as a routing hint; anything else is ignored rather than an error. */
export function tierHeader (value: string | string[] | undefined): Tier | undefined {
  const text = Array.isArray(value) ? value[0] : value
  return text === '0' || text === '1' || text === '2' ? Number(text) as Tier : undefined
}
