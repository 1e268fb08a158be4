// Raw-prompt completions (`POST /v1/completions`, issue 29): the prompt goes to the model as it
// is, with no chat template. The request carries it as its one user message with `raw: true`;
// each backend sends it its own way: an OpenAI-compatible server's `/completions`, Ollama's
// `/api/generate` with `raw`, node-llama-cpp's plain completion on a sequence (embedded.ts).
import { BadRequestError, UnavailableError } from '../completion/errors.js'
import type { BackendRequest, CompleteOptions, CompletionResult, FinishReason } from '../completion/types.js'
import { ollamaModelOptions } from './ollama-options.js'
import { readNdjson, readSse } from './sse.js'
import { errorFromStatus, type Upstream } from './upstream.js'

/** The prompt of a raw request: its one user message's text. */
export function rawPromptOf (request: BackendRequest): string {
  const only = request.messages[0]
  if (request.messages.length !== 1 || only?.role !== 'user' || typeof only.content !== 'string') {
    throw new BadRequestError('a raw-prompt request has exactly one user message holding the prompt')
  }
  return only.content
}

const finishOf = (raw: unknown): FinishReason => raw === 'length' ? 'length' : 'stop'

/** Calls `onDelta`, keeping an exception from the caller's own callback apart from upstream failures. */
function deliverer (options: CompleteOptions): { deliver: (text: string) => void, consumerError: () => { error: unknown } | undefined } {
  let failure: { error: unknown } | undefined
  return {
    deliver (text) {
      if (text === '' || options.onDelta == null) return
      try {
        options.onDelta({ content: text })
      } catch (error) {
        failure = { error }
        throw error
      }
    },
    consumerError: () => failure
  }
}

interface OpenAICompletionChunk {
  choices?: Array<{ text?: string, finish_reason?: string | null }>
  usage?: { prompt_tokens?: number, completion_tokens?: number }
  error?: { message?: string }
}

/** An OpenAI-compatible server's `/completions`: SSE when the caller streams, JSON otherwise. */
export async function completeRawOpenAI (upstream: Upstream, request: BackendRequest, options: CompleteOptions): Promise<CompletionResult> {
  const prompt = rawPromptOf(request)
  const streaming = options.onDelta != null
  const call = upstream.call(options.signal)
  const { deliver, consumerError } = deliverer(options)
  try {
    const response = await upstream.request(call, '/completions', {
      json: {
        model: request.model,
        prompt,
        stream: streaming,
        ...(streaming ? { stream_options: { include_usage: true } } : {}),
        ...(request.max_tokens != null ? { max_tokens: request.max_tokens } : {}),
        ...(request.temperature != null ? { temperature: request.temperature } : {}),
        ...(request.stop != null ? { stop: request.stop } : {})
      }
    })
    let text = ''
    let finish: unknown
    let usage: OpenAICompletionChunk['usage']
    let tokens = 0
    const take = (chunk: OpenAICompletionChunk): void => {
      if (chunk.error != null) throw new UnavailableError(`${upstream.label}: ${chunk.error.message ?? 'error in the stream'}`)
      const choice = chunk.choices?.[0]
      if (typeof choice?.text === 'string' && choice.text !== '') {
        text += choice.text
        tokens++
        deliver(choice.text)
      }
      if (choice?.finish_reason != null) finish = choice.finish_reason
      if (chunk.usage != null) usage = chunk.usage
    }
    const isSse = (response.headers.get('content-type') ?? '').includes('text/event-stream')
    if (streaming && isSse && response.body != null) {
      let done = false
      for await (const event of readSse(response.body)) {
        if (event.data === '[DONE]') { done = true; break }
        take(JSON.parse(event.data) as OpenAICompletionChunk)
      }
      if (!done && finish == null) throw new UnavailableError(`${upstream.label}: the stream ended before the completion finished`)
    } else {
      // Whole, or a stream asked for but answered as plain JSON (some proxies do): one valid answer.
      take(await response.json() as OpenAICompletionChunk)
    }
    return {
      message: { role: 'assistant', content: text },
      finish_reason: finishOf(finish),
      model: request.model,
      usage: { prompt_tokens: usage?.prompt_tokens ?? 0, completion_tokens: usage?.completion_tokens ?? tokens }
    }
  } catch (err) {
    const failure = consumerError()
    if (failure != null) throw failure.error
    throw call.explain(err)
  } finally {
    call.done()
  }
}

interface OllamaGenerateChunk {
  response?: string
  done?: boolean
  done_reason?: string
  prompt_eval_count?: number
  eval_count?: number
  error?: string
}

/** Ollama's `/api/generate` with `raw: true` (no template, no context): NDJSON when streaming. */
export async function completeRawOllama (upstream: Upstream, request: BackendRequest, options: CompleteOptions): Promise<CompletionResult> {
  const prompt = rawPromptOf(request)
  const streaming = options.onDelta != null
  const call = upstream.call(options.signal)
  const { deliver, consumerError } = deliverer(options)
  const modelOptions = ollamaModelOptions(request)
  try {
    const response = await upstream.request(call, '/api/generate', {
      json: {
        model: request.model,
        prompt,
        raw: true,
        stream: streaming,
        ...(modelOptions != null ? { options: modelOptions } : {}),
        ...(request.keep_alive != null ? { keep_alive: request.keep_alive } : {})
      }
    })
    let text = ''
    let final: OllamaGenerateChunk | undefined
    const take = (chunk: OllamaGenerateChunk): void => {
      if (chunk.error != null) throw errorFromStatus(500, JSON.stringify({ error: chunk.error }), upstream.label)
      if (typeof chunk.response === 'string' && chunk.response !== '') {
        text += chunk.response
        deliver(chunk.response)
      }
      if (chunk.done === true) final = chunk
    }
    if (streaming && response.body != null) {
      for await (const chunk of readNdjson<OllamaGenerateChunk>(response.body)) {
        take(chunk)
        if (final != null) break
      }
    } else {
      take(await response.json() as OllamaGenerateChunk)
    }
    if (final == null) throw new UnavailableError(`${upstream.label}: the stream ended before the completion finished`)
    return {
      message: { role: 'assistant', content: text },
      finish_reason: finishOf(final.done_reason),
      model: request.model,
      usage: { prompt_tokens: final.prompt_eval_count ?? 0, completion_tokens: final.eval_count ?? 0 }
    }
  } catch (err) {
    const failure = consumerError()
    if (failure != null) throw failure.error
    throw call.explain(err)
  } finally {
    call.done()
  }
}
