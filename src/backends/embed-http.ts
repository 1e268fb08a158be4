// Embeddings on an HTTP server: an OpenAI-compatible one (`POST /embeddings`, vectors as float
// arrays) or Ollama (`POST /api/embed`). A server that cannot embed (llama-server started without
// `--embeddings`, an Ollama model without embedding support) is an EmbeddingRefusedError: the
// mesh then stops offering that model for embeddings on this peer.
import { BadRequestError, UnavailableError, type CompletionError } from '../completion/errors.js'
import { EmbeddingRefusedError } from '../embeddings/errors.js'
import type { Embedder, EmbeddingRequest, EmbeddingResult } from '../embeddings/types.js'
import { errorDetail, errorFromStatus, fromAbortReason, MAX_ERROR_BODY_BYTES } from './upstream.js'

export interface HttpEmbedderInit {
  /** OpenAI: with its version path (`http://127.0.0.1:8080/v1`); Ollama: the server root. */
  baseUrl: string
  apiKey?: string
  /** Names the server in errors (`openai at …`). */
  label: string
}

/** What servers answer when they cannot embed with a model (llama-server, Ollama, vLLM wordings). */
const REFUSAL = /does not support embeddings|not support(ed)? .*embedding|--embeddings|embeddings? (are|is) not (supported|enabled)|pooling/i

/** The error for a non-2xx answer to an embedding call: a refusal when the server says it cannot embed. */
export function embedErrorFromStatus (status: number, body: string, label: string): CompletionError {
  const detail = errorDetail(body)
  if (status === 501 || REFUSAL.test(detail)) {
    return new EmbeddingRefusedError(`${label} cannot embed: ${status}${detail !== '' ? ` ${detail}` : ''}`)
  }
  return errorFromStatus(status, body, label)
}

export function createOpenAIEmbedder (init: HttpEmbedderInit): Embedder {
  const base = init.baseUrl.replace(/\/+$/, '')
  return async (request, { signal }) => {
    const body = await post(`${base}/embeddings`, {
      model: request.model,
      input: request.input,
      encoding_format: 'float',
      ...(request.dimensions != null ? { dimensions: request.dimensions } : {})
    }, init, signal)
    const data = (body as { data?: Array<{ embedding?: unknown, index?: unknown }> })?.data
    if (!Array.isArray(data) || data.length !== request.input.length) throw new UnavailableError(`${init.label} answered /embeddings without one vector per input`)
    const ordered = [...data].sort((a, b) => Number(a.index ?? 0) - Number(b.index ?? 0))
    const usage = (body as { usage?: { prompt_tokens?: unknown } }).usage
    return result(request, ordered.map(d => d.embedding), typeof usage?.prompt_tokens === 'number' ? usage.prompt_tokens : 0, init.label)
  }
}

export function createOllamaEmbedder (init: HttpEmbedderInit): Embedder {
  const base = init.baseUrl.replace(/\/+$/, '')
  return async (request, { signal }) => {
    if (typeof request.input[0] !== 'string') throw new BadRequestError(`${init.label} takes text inputs, not token arrays`)
    const body = await post(`${base}/api/embed`, {
      model: request.model,
      input: request.input,
      ...(request.truncate != null ? { truncate: request.truncate } : {}),
      // Ollama 0.11+ takes it; an older server ignores it, and the client sees the vectors' length.
      ...(request.dimensions != null ? { dimensions: request.dimensions } : {}),
      ...(request.keep_alive != null ? { keep_alive: request.keep_alive } : {})
    }, init, signal) as { embeddings?: unknown, prompt_eval_count?: unknown }
    if (!Array.isArray(body?.embeddings) || body.embeddings.length !== request.input.length) throw new UnavailableError(`${init.label} answered /api/embed without one vector per input`)
    return result(request, body.embeddings, typeof body.prompt_eval_count === 'number' ? body.prompt_eval_count : 0, init.label)
  }
}

async function post (url: string, json: unknown, init: HttpEmbedderInit, signal: AbortSignal): Promise<unknown> {
  let response: Response
  try {
    response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json', ...(init.apiKey != null && init.apiKey !== '' ? { authorization: `Bearer ${init.apiKey}` } : {}) },
      body: JSON.stringify(json),
      signal
    })
  } catch (err: any) {
    if (signal.aborted) throw fromAbortReason(signal.reason)
    throw new UnavailableError(`${init.label} connection failed: ${err?.cause?.code ?? err?.message ?? err}`)
  }
  if (!response.ok) {
    const text = (await response.text().catch(() => '')).slice(0, MAX_ERROR_BODY_BYTES)
    throw embedErrorFromStatus(response.status, text, init.label)
  }
  try {
    return await response.json()
  } catch (err: any) {
    if (signal.aborted) throw fromAbortReason(signal.reason)
    throw new UnavailableError(`${init.label} sent malformed JSON: ${err?.message ?? err}`)
  }
}

function result (request: EmbeddingRequest, vectors: unknown[], promptTokens: number, label: string): EmbeddingResult {
  const embeddings = vectors.map((v, i) => {
    if (!Array.isArray(v) || v.some(x => typeof x !== 'number')) throw new UnavailableError(`${label} sent vector ${i} that is not a list of numbers`)
    return Float32Array.from(v as number[])
  })
  return { model: request.model, embeddings, prompt_tokens: promptTokens }
}

