// Backend for an Ollama server: `/api/chat` (NDJSON when the caller wants deltas), `/api/tags`
// for models and `/api/version` for health. Converts our OpenAI-shaped messages and tool calls
// to Ollama's shape and back.
import { BadRequestError, UnavailableError } from '../completion/errors.js'
import type { Backend, BackendRequest, ChatMessage, CompletionResult, FinishReason, ToolCall } from '../completion/types.js'
import { silentLogger, type Logger } from '../log.js'
import { readNdjson } from './sse.js'
import { withPrefix } from './prefix.js'
import { checkCapacity, createUpstream, errorFromStatus } from './upstream.js'
import { createOllamaEmbedder } from './embed-http.js'
import { ollamaModelOptions } from './ollama-options.js'
import { completeRawOllama } from './raw-prompt.js'
import { ollamaModelInfo } from './model-info-http.js'

/** Where `ollama serve` listens unless OLLAMA_HOST says otherwise. */
export const OLLAMA_DEFAULT_URL = 'http://127.0.0.1:11434'

/**
 * Ollama runs one request per model at a time unless OLLAMA_NUM_PARALLEL is raised (its
 * default is 1), and queues the rest inside where the mesh cannot see the wait. Raise it
 * together with OLLAMA_NUM_PARALLEL.
 */
export const OLLAMA_DEFAULT_CAPACITY = 1

export interface OllamaBackendInit {
  /** Default OLLAMA_DEFAULT_URL. */
  baseUrl?: string
  /** Completions sent at once; default OLLAMA_DEFAULT_CAPACITY. */
  capacity?: number
  /** Bounds every upstream call, completions included; unset: only calls without a signal (10 s). */
  timeoutMs?: number
  logger?: Logger
}

/** Ollama's tool call: arguments are an object, and older servers give no id. */
export interface OllamaToolCall {
  id?: string
  function: { name: string, arguments: Record<string, unknown>, index?: number }
}

export interface OllamaMessage {
  role: ChatMessage['role']
  content: string
  tool_calls?: OllamaToolCall[]
  /** On `tool` messages: which function produced this result (Ollama has no call ids). */
  tool_name?: string
}

interface ChatChunk {
  message?: { content?: string, tool_calls?: Array<{ id?: string, function?: { name?: string, arguments?: unknown } }> }
  done?: boolean
  done_reason?: string
  prompt_eval_count?: number
  eval_count?: number
  error?: string
}

export function createOllamaBackend (init: OllamaBackendInit = {}): Backend {
  const baseUrl = init.baseUrl ?? OLLAMA_DEFAULT_URL
  const label = `ollama at ${baseUrl}`
  const log = init.logger ?? silentLogger()
  const upstream = createUpstream({
    label,
    baseUrl,
    ...(init.timeoutMs != null ? { timeoutMs: init.timeoutMs } : {}),
    logger: log
  })

  // From the last /api/tags: a handover continues only on a peer with the same model blob.
  let digests: Record<string, string> = {}

  return {
    kind: 'ollama',
    digests: () => digests,
    embed: createOllamaEmbedder({ baseUrl, label }),
    ...ollamaModelInfo({ baseUrl, label }),
    url: baseUrl,
    capacity: checkCapacity(init.capacity ?? OLLAMA_DEFAULT_CAPACITY, label),

    async models (signal) {
      const call = upstream.call(signal)
      try {
        const response = await upstream.request(call, '/api/tags')
        const body = await response.json() as { models?: Array<{ name?: unknown, model?: unknown, digest?: unknown }> }
        if (!Array.isArray(body?.models)) throw new UnavailableError(`${label}: /api/tags answered without a models list`)
        const listed = body.models.flatMap(m => {
          const name = typeof m.name === 'string' ? m.name : m.model
          return typeof name === 'string' ? [{ name, digest: m.digest }] : []
        })
        digests = Object.fromEntries(listed.flatMap(m => typeof m.digest === 'string' ? [[m.name, m.digest.replace(/^sha256:/, '')]] : []))
        return listed.map(m => m.name)
      } catch (err) {
        throw call.explain(err)
      } finally {
        call.done()
      }
    },

    async complete (request, options) {
      if (request.raw === true) return await completeRawOllama(upstream, request, options)
      // Checked before any I/O: a malformed history is the request's fault, not the server's.
      const body = ollamaChatBody(request, options.onDelta != null)
      const call = upstream.call(options.signal)
      const started = performance.now()
      let consumerError: { error: unknown } | undefined
      try {
        const response = await upstream.request(call, '/api/chat', { json: body })
        const content: string[] = []
        const calls: ToolCall[] = []
        let final: ChatChunk | undefined
        const take = (chunk: ChatChunk): void => {
          // A failure after the headers arrives as an `{error}` line.
          if (chunk.error != null) throw errorFromStatus(500, JSON.stringify({ error: chunk.error }), label)
          const text = chunk.message?.content
          if (typeof text === 'string' && text !== '') {
            content.push(text)
            if (options.onDelta != null) {
              try {
                options.onDelta({ content: text })
              } catch (error) {
                consumerError = { error }
                throw error
              }
            }
          }
          for (const raw of chunk.message?.tool_calls ?? []) calls.push(fromOllamaToolCall(raw, calls.length))
          if (chunk.done === true) final = chunk
        }
        if (body.stream === true && response.body != null) {
          for await (const chunk of readNdjson<ChatChunk>(response.body)) {
            take(chunk)
            if (final != null) break
          }
        } else {
          take(await response.json() as ChatChunk)
        }
        // Without the `done` record the generation was cut, whatever text came before.
        if (final == null) throw new UnavailableError(`${label}: the stream ended before the completion finished`)
        const result = ollamaResult(request, content, calls, final)
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
      return await upstream.health('/api/version', signal)
    },

    async close () {
      upstream.close()
    }
  }
}

/** The `/api/chat` body: options only when set, so the model's own defaults stay in force. */
export function ollamaChatBody (request: BackendRequest, stream: boolean): { model: string, messages: OllamaMessage[], stream: boolean, tools?: unknown, options?: Record<string, unknown>, keep_alive?: string | number } {
  const body: ReturnType<typeof ollamaChatBody> = {
    model: request.model,
    // A handover continues the answer another peer started: Ollama continues a trailing assistant message.
    messages: toOllamaMessages(withPrefix(request)),
    // Explicit both ways: Ollama streams when `stream` is missing.
    stream
  }
  // Ollama takes tool definitions in the OpenAI shape as they are.
  if (request.tools != null && request.tools.length > 0) body.tools = request.tools
  const options = ollamaModelOptions(request)
  if (options != null) body.options = options
  // The client's choice of how long the model (and with it the runner's prompt cache) stays
  // loaded, unchanged: Ollama reads "5m", "1h", seconds as a number, 0 (unload) or -1 (forever).
  if (request.keep_alive !== undefined) body.keep_alive = request.keep_alive
  return body
}

/** Our messages in Ollama's shape: tool-call arguments become objects, tool results name their function. */
export function toOllamaMessages (messages: ChatMessage[]): OllamaMessage[] {
  return messages.map((message, position) => {
    const out: OllamaMessage = { role: message.role, content: message.content ?? '' }
    if (message.tool_calls != null && message.tool_calls.length > 0) {
      out.tool_calls = message.tool_calls.map(call => ({
        function: { name: call.function.name, arguments: parseArguments(call, position) }
      }))
    }
    if (message.role === 'tool') {
      const name = message.name ?? toolNameFor(messages, position)
      if (name != null) out.tool_name = name
    }
    return out
  })
}

/** Ollama's tool call as ours: arguments as a JSON string, and an id (`call_<n>`) when it gave none. */
export function fromOllamaToolCall (raw: { id?: string, function?: { name?: string, arguments?: unknown } }, index: number): ToolCall {
  const args = raw.function?.arguments
  return {
    id: raw.id != null && raw.id !== '' ? raw.id : `call_${index}`,
    type: 'function',
    function: {
      name: raw.function?.name ?? '',
      arguments: typeof args === 'string' ? (args === '' ? '{}' : args) : JSON.stringify(args ?? {})
    }
  }
}

function ollamaResult (request: BackendRequest, content: string[], calls: ToolCall[], final: ChatChunk): CompletionResult {
  const text = content.join('')
  const hasCalls = calls.length > 0
  let finish: FinishReason = 'stop'
  if (final.done_reason === 'length') finish = 'length'
  else if (hasCalls) finish = 'tool_calls'
  return {
    message: {
      role: 'assistant',
      content: hasCalls && text === '' ? null : text,
      ...(hasCalls ? { tool_calls: calls } : {})
    },
    finish_reason: finish,
    model: request.model,
    usage: {
      // Ollama omits prompt_eval_count when the whole prompt came from its cache.
      prompt_tokens: final.prompt_eval_count ?? 0,
      completion_tokens: final.eval_count ?? content.length
    }
  }
}

function parseArguments (call: ToolCall, position: number): Record<string, unknown> {
  const text = call.function.arguments.trim()
  if (text === '') return {}
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch {
    throw new BadRequestError(`messages[${position}]: tool call ${call.id} has arguments that are not JSON`)
  }
  if (parsed == null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new BadRequestError(`messages[${position}]: tool call ${call.id} arguments must be a JSON object`)
  }
  return parsed as Record<string, unknown>
}

/** The function name of the call a tool message answers: the nearest earlier assistant call with its id. */
function toolNameFor (messages: ChatMessage[], position: number): string | undefined {
  const id = messages[position]?.tool_call_id
  if (id == null) return undefined
  for (let i = position - 1; i >= 0; i--) {
    const call = messages[i]?.tool_calls?.find(c => c.id === id)
    if (call != null) return call.function.name
  }
  return undefined
}
