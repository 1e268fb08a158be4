// Backend for any OpenAI-compatible server: llama.cpp `llama-server`, vLLM, LM Studio, a cloud API.
// Speaks `/chat/completions` (SSE when the caller wants deltas) and `/models`.
import { BadRequestError, UnavailableError } from '../completion/errors.js'
import type {
  Backend,
  BackendRequest,
  ChatMessage,
  CompletionResult,
  FinishReason,
  ToolCall,
  Usage
} from '../completion/types.js'
import { silentLogger, type Logger } from '../log.js'
import { readSse } from './sse.js'
import { withPrefix } from './prefix.js'
import { checkCapacity, createUpstream, errorFromStatus, type UpstreamCall } from './upstream.js'
import { createOpenAIEmbedder } from './embed-http.js'
import { completeRawOpenAI } from './raw-prompt.js'
import { openAIModelInfo } from './model-info-http.js'

/**
 * llama-server starts 4 slots unless told otherwise, and vLLM or a cloud API take at least as
 * many. Sending more than the server runs at once only queues inside it, where the mesh cannot
 * see the wait; sending fewer leaves its slots idle.
 */
export const OPENAI_DEFAULT_CAPACITY = 4

export interface OpenAIBackendInit {
  /** As the OpenAI SDK takes it, version path included: `http://127.0.0.1:8080/v1`. */
  baseUrl: string
  /** Sent as `Authorization: Bearer <key>`. */
  apiKey?: string
  /** Completions sent at once; default OPENAI_DEFAULT_CAPACITY. */
  capacity?: number
  /** Bounds every upstream call, completions included; unset: only calls without a signal (10 s). */
  timeoutMs?: number
  logger?: Logger
}

export function createOpenAIBackend (init: OpenAIBackendInit): Backend {
  const label = `openai at ${init.baseUrl}`
  const log = init.logger ?? silentLogger()
  const upstream = createUpstream({
    label,
    baseUrl: init.baseUrl,
    headers: init.apiKey != null && init.apiKey !== '' ? { authorization: `Bearer ${init.apiKey}` } : {},
    ...(init.timeoutMs != null ? { timeoutMs: init.timeoutMs } : {}),
    logger: log
  })

  // Servers that refuse unknown fields (OpenAI itself) answer 400 to the continuation flags:
  // the continuation is sent again without them, and they are not sent to this server again.
  let continueFlags = true
  const requestChat = async (call: UpstreamCall, request: BackendRequest, streaming: boolean): Promise<Response> => {
    try {
      return await upstream.request(call, '/chat/completions', { json: chatBody(request, streaming, continueFlags) })
    } catch (err) {
      if (request.continuation == null || !continueFlags || !(call.explain(err) instanceof BadRequestError)) throw err
      continueFlags = false
      log.info(`${label} refused continue_final_message/add_generation_prompt; continuing with the trailing assistant message alone`)
      return await upstream.request(call, '/chat/completions', { json: chatBody(request, streaming, false) })
    }
  }

  const backend: Backend = {
    kind: 'openai',
    url: init.baseUrl,
    embed: createOpenAIEmbedder({ baseUrl: init.baseUrl, label, ...(init.apiKey != null ? { apiKey: init.apiKey } : {}) }),
    capacity: checkCapacity(init.capacity ?? OPENAI_DEFAULT_CAPACITY, label),

    async models (signal) {
      const call = upstream.call(signal)
      try {
        const response = await upstream.request(call, '/models')
        const body = await response.json() as { data?: Array<{ id?: unknown }> }
        if (!Array.isArray(body?.data)) throw new UnavailableError(`${label}: /models answered without a data list`)
        return body.data.map(m => m.id).filter((id): id is string => typeof id === 'string')
      } catch (err) {
        throw call.explain(err)
      } finally {
        call.done()
      }
    },

    async complete (request, options) {
      if (request.raw === true) return await completeRawOpenAI(upstream, request, options)
      const call = upstream.call(options.signal)
      const streaming = options.onDelta != null
      const started = performance.now()
      // An exception from the caller's own onDelta is theirs; it is not an upstream failure.
      let consumerError: { error: unknown } | undefined
      const onDelta = options.onDelta == null
        ? undefined
        : (content: string): void => {
            try {
              options.onDelta?.({ content })
            } catch (error) {
              consumerError = { error }
              throw error
            }
          }
      try {
        const response = await requestChat(call, request, streaming)
        const isSse = (response.headers.get('content-type') ?? '').includes('text/event-stream')
        const result = streaming && isSse && response.body != null
          ? await readStream(response.body, request, onDelta, label)
          // Asked for a stream but got plain JSON (some proxies do): still one valid answer.
          : fromResponse(await response.json(), request, onDelta, label)
        log.debug({ model: request.model, ms: Math.round(performance.now() - started), finish: result.finish_reason }, 'completion done')
        return result
      } catch (err) {
        if (consumerError != null) throw consumerError.error
        throw call.explain(err)
      } finally {
        call.done()
      }
    },

    async health (signal) {
      return await upstream.health('/models', signal)
    },

    async close () {
      upstream.close()
    }
  }
  // Model details and running models (issue 29, model-info-http.ts).
  const info = openAIModelInfo({ baseUrl: init.baseUrl, label, models: backend.models, ...(init.apiKey != null ? { apiKey: init.apiKey } : {}) })
  backend.show = info.show
  backend.ps = info.ps
  return backend
}

/** The upstream body: only what the request sets, so server defaults stay in force. */
export function chatBody (request: BackendRequest, stream: boolean, continueFlags = true): Record<string, unknown> {
  const body: Record<string, unknown> = {
    model: request.model,
    messages: withPrefix(request).map(toOpenAIMessage),
    stream
  }
  // A handover: continue the trailing assistant message (llama.cpp's server does by default;
  // vLLM and SGLang need the flags). `continueFlags: false` for servers that refuse unknown fields.
  if (request.continuation != null && continueFlags) {
    body.continue_final_message = true
    body.add_generation_prompt = false
  }
  // Asks for the usage chunk at the end of the stream; otherwise token counts are guesses.
  if (stream) body.stream_options = { include_usage: true }
  if (request.tools != null && request.tools.length > 0) body.tools = request.tools
  // `!== undefined`, not truthiness: temperature 0 (greedy) must reach the server as 0.
  if (request.temperature !== undefined) body.temperature = request.temperature
  if (request.max_tokens !== undefined) body.max_tokens = request.max_tokens
  if (request.stop != null && request.stop.length > 0) body.stop = request.stop
  // The client's cache hints, unchanged and only when it set them: llama-server's `cache_prompt`
  // (its default is on; false evaluates the whole prompt again), OpenAI's `prompt_cache_key`.
  if (request.cache_prompt !== undefined) body.cache_prompt = request.cache_prompt
  if (request.prompt_cache_key !== undefined) body.prompt_cache_key = request.prompt_cache_key
  return body
}

function toOpenAIMessage (message: ChatMessage): Record<string, unknown> {
  const out: Record<string, unknown> = {
    role: message.role,
    // Only an assistant message that calls tools may have null content.
    content: message.content ?? (message.role === 'assistant' ? null : '')
  }
  if (message.tool_calls != null && message.tool_calls.length > 0) out.tool_calls = message.tool_calls
  if (message.tool_call_id != null) out.tool_call_id = message.tool_call_id
  if (message.name != null) out.name = message.name
  return out
}

interface PartialCall { id?: string, name: string, arguments: string }

interface StreamChunk {
  choices?: Array<{
    delta?: {
      content?: string | null
      tool_calls?: Array<{ index?: number, id?: string, function?: { name?: string, arguments?: unknown } }>
    }
    finish_reason?: string | null
  }>
  usage?: UpstreamUsage | null
  /** llama-server's own figures; `cache_n` is the prompt tokens it took from its cache. */
  timings?: { cache_n?: unknown } | null
  error?: { message?: string, code?: unknown, type?: string } | string
}

interface UpstreamUsage {
  prompt_tokens?: number
  completion_tokens?: number
  prompt_tokens_details?: { cached_tokens?: unknown } | null
}

/**
 * Prompt tokens the server served from its cache: OpenAI's `usage.prompt_tokens_details.cached_tokens`
 * (OpenAI, vLLM, recent llama-server), else llama-server's `timings.cache_n`. Undefined when the
 * server said neither, so the answer does not claim a figure nobody measured.
 */
export function cachedTokensOf (usage: UpstreamUsage | null | undefined, timings: { cache_n?: unknown } | null | undefined): number | undefined {
  const reported = usage?.prompt_tokens_details?.cached_tokens ?? timings?.cache_n
  return typeof reported === 'number' && Number.isSafeInteger(reported) && reported >= 0 ? reported : undefined
}

/** Our usage from the server's figures (missing counts already filled in by the caller). */
function usageOf (promptTokens: number, completionTokens: number, cached: number | undefined): Usage {
  const usage: Usage = { prompt_tokens: promptTokens, completion_tokens: completionTokens }
  // Never more cached than prompt tokens: a server counting differently must not make the share exceed 100 %.
  if (cached !== undefined) usage.prompt_tokens_details = { cached_tokens: Math.min(cached, promptTokens) }
  return usage
}

async function readStream (
  body: ReadableStream<Uint8Array>,
  request: BackendRequest,
  onDelta: ((content: string) => void) | undefined,
  label: string
): Promise<CompletionResult> {
  const content: string[] = []
  const calls = new Map<number, PartialCall>()
  let finish: string | undefined
  let usage: UpstreamUsage | undefined
  let timings: StreamChunk['timings']
  let done = false
  for await (const event of readSse(body)) {
    if (event.data === '[DONE]') {
      done = true
      break
    }
    const chunk = JSON.parse(event.data) as StreamChunk
    // llama-server and vLLM report a failure after the headers as an `error` chunk.
    if (chunk.error != null) throw streamError(chunk.error, label)
    if (chunk.usage != null) usage = chunk.usage
    // llama-server puts its timings on the last chunk (the one with the finish reason).
    if (chunk.timings != null) timings = chunk.timings
    const choice = chunk.choices?.[0]
    if (choice == null) continue
    const text = choice.delta?.content
    if (typeof text === 'string' && text !== '') {
      content.push(text)
      onDelta?.(text)
    }
    const deltas = choice.delta?.tool_calls ?? []
    deltas.forEach((delta, position) => {
      // Assembled by index: the id and name come in the first delta, arguments in pieces.
      const index = delta.index ?? position
      const call = calls.get(index) ?? { name: '', arguments: '' }
      if (delta.id != null && delta.id !== '') call.id = delta.id
      if (delta.function?.name != null) call.name += delta.function.name
      const args = delta.function?.arguments
      if (args != null) call.arguments += typeof args === 'string' ? args : JSON.stringify(args)
      calls.set(index, call)
    })
    if (choice.finish_reason != null) finish = choice.finish_reason
  }
  // A stream cut before it said how it ended is a failed completion, not a short answer.
  if (!done && finish == null) throw new UnavailableError(`${label}: the stream ended before the completion finished`)
  const toolCalls = [...calls.entries()]
    .sort(([a], [b]) => a - b)
    .map(([index, call]): ToolCall => ({
      id: call.id ?? `call_${index}`,
      type: 'function',
      function: { name: call.name, arguments: call.arguments === '' ? '{}' : call.arguments }
    }))
  // Without a usage chunk (older servers ignore stream_options), one chunk is about one token.
  return result(request, content.join(''), toolCalls, finish,
    usageOf(usage?.prompt_tokens ?? 0, usage?.completion_tokens ?? content.length, cachedTokensOf(usage, timings)))
}

interface ResponseBody {
  choices?: Array<{
    message?: { content?: string | null, tool_calls?: Array<{ id?: string, function?: { name?: string, arguments?: unknown } }> }
    finish_reason?: string | null
  }>
  usage?: UpstreamUsage | null
  timings?: StreamChunk['timings']
  error?: StreamChunk['error']
}

function fromResponse (
  body: ResponseBody,
  request: BackendRequest,
  onDelta: ((content: string) => void) | undefined,
  label: string
): CompletionResult {
  if (body?.error != null) throw streamError(body.error, label)
  const choice = body?.choices?.[0]
  if (choice?.message == null) throw new UnavailableError(`${label}: the answer has no choices`)
  const text = choice.message.content ?? ''
  if (text !== '') onDelta?.(text)
  const toolCalls = (choice.message.tool_calls ?? []).map((call, index): ToolCall => ({
    id: call.id ?? `call_${index}`,
    type: 'function',
    function: {
      name: call.function?.name ?? '',
      // Some servers return the arguments as an object; ours are always a JSON string.
      arguments: typeof call.function?.arguments === 'string'
        ? (call.function.arguments === '' ? '{}' : call.function.arguments)
        : JSON.stringify(call.function?.arguments ?? {})
    }
  }))
  return result(request, text, toolCalls, choice.finish_reason ?? undefined,
    usageOf(body.usage?.prompt_tokens ?? 0, body.usage?.completion_tokens ?? 0, cachedTokensOf(body.usage, body.timings)))
}

function result (request: BackendRequest, text: string, toolCalls: ToolCall[], finish: string | undefined, usage: Usage): CompletionResult {
  const hasCalls = toolCalls.length > 0
  return {
    message: {
      role: 'assistant',
      // OpenAI's shape: content is null when the turn is only tool calls.
      content: hasCalls && text === '' ? null : text,
      ...(hasCalls ? { tool_calls: toolCalls } : {})
    },
    finish_reason: finishReason(finish, hasCalls),
    // The name the mesh routed by, not the server's alias for it (cloud APIs answer with dated names).
    model: request.model,
    usage
  }
}

/** `length` wins (a call cut by max_tokens is incomplete); any call makes it `tool_calls`; else `stop`. */
export function finishReason (raw: string | undefined, hasCalls: boolean): FinishReason {
  if (raw === 'length') return 'length'
  if (hasCalls) return 'tool_calls'
  return 'stop'
}

function streamError (error: NonNullable<StreamChunk['error']>, label: string): Error {
  if (typeof error === 'string') return new UnavailableError(`${label} failed: ${error}`)
  // A numeric code is an HTTP status (llama-server); an `invalid_request_error` is the request's fault.
  const status = typeof error.code === 'number' ? error.code : error.type === 'invalid_request_error' ? 400 : 500
  return errorFromStatus(status, JSON.stringify({ error }), label)
}
