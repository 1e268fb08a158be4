// Embedding request bodies of the OpenAI and Ollama APIs, parsed and bounded at the door, and
// turned into the internal EmbeddingRequest. The bounds are the mesh protocol's own, so a request
// that passes here is one every peer accepts.
import { z } from 'zod'
import { MAX_CHARS_PER_INPUT, MAX_DIMENSIONS, MAX_EMBEDDING_INPUTS, MAX_TOKENS_PER_INPUT } from '../embeddings/constants.js'
import type { EmbeddingInput, EmbeddingRequest } from '../embeddings/types.js'
import { MAX_KEEP_ALIVE_CHARS } from '../protocol/constants.js'

const model = z.string().min(1, 'model is required').max(256)
const text = z.string().min(1, 'may not be an empty string').max(MAX_CHARS_PER_INPUT, `may have at most ${MAX_CHARS_PER_INPUT} characters`)
const keepAlive = z.union([z.string().max(MAX_KEEP_ALIVE_CHARS), z.number().finite()]).optional()

/** OpenAI: `input` is a string, an array of strings, an array of tokens or an array of token arrays. */
export const OpenAIEmbeddingsRequest = z.object({
  model,
  input: z.unknown().transform((value, ctx) => inputOf(value, true, ctx)),
  encoding_format: z.enum(['float', 'base64']).optional(),
  dimensions: z.number().int().positive().max(MAX_DIMENSIONS).optional(),
  user: z.string().max(1024).optional()
})

/** Ollama `/api/embed`: `input` is a string or an array of strings. */
export const OllamaEmbedRequest = z.object({
  model,
  input: z.unknown().transform((value, ctx) => inputOf(value, false, ctx)),
  truncate: z.boolean().optional(),
  dimensions: z.number().int().positive().max(MAX_DIMENSIONS).optional(),
  keep_alive: keepAlive,
  options: z.record(z.string(), z.unknown()).optional()
})

/** Ollama's legacy `/api/embeddings`: one `prompt`, one `embedding`. */
export const OllamaEmbeddingsRequest = z.object({
  model,
  prompt: text,
  keep_alive: keepAlive,
  options: z.record(z.string(), z.unknown()).optional()
})

/**
 * `input` as a list of inputs, checked by hand: a union schema reports only "Invalid input", and
 * the client deserves to hear which bound it crossed. A string is one text input; with tokens
 * allowed (OpenAI), a flat number array is one token input and an array of them several.
 */
function inputOf (value: unknown, tokensAllowed: boolean, ctx: z.RefinementCtx): EmbeddingInput {
  const fail = (message: string): EmbeddingInput => {
    ctx.addIssue({ code: 'custom', message })
    return z.NEVER
  }
  const checkText = (item: string, where: string): string | undefined => {
    if (item === '') return `${where} may not be an empty string`
    if (item.length > MAX_CHARS_PER_INPUT) return `${where} has ${item.length} characters, over the ${MAX_CHARS_PER_INPUT} allowed per input`
    return undefined
  }
  const checkTokens = (item: unknown[], where: string): string | undefined => {
    if (item.length === 0) return `${where} may not be an empty token array`
    if (item.length > MAX_TOKENS_PER_INPUT) return `${where} has ${item.length} tokens, over the ${MAX_TOKENS_PER_INPUT} allowed per input`
    if (!item.every(t => Number.isInteger(t) && (t as number) >= 0 && (t as number) <= 0x7fffffff)) return `${where} must hold token ids (non-negative integers)`
    return undefined
  }
  const expected = tokensAllowed ? 'a string, an array of strings, an array of token ids or an array of token arrays' : 'a string or an array of strings'
  if (typeof value === 'string') {
    const problem = checkText(value, 'input')
    return problem != null ? fail(problem) : [value]
  }
  if (!Array.isArray(value)) return fail(`input must be ${expected}`)
  if (value.length === 0) return fail('input may not be an empty array')
  if (tokensAllowed && typeof value[0] === 'number') {
    const problem = checkTokens(value, 'input')
    return problem != null ? fail(problem) : [value as number[]]
  }
  if (value.length > MAX_EMBEDDING_INPUTS) return fail(`input has ${value.length} items, over the ${MAX_EMBEDDING_INPUTS} allowed per request`)
  if (typeof value[0] === 'string') {
    for (const [i, item] of value.entries()) {
      if (typeof item !== 'string') return fail(`input[${i}] must be a string like the others`)
      const problem = checkText(item, `input[${i}]`)
      if (problem != null) return fail(problem)
    }
    return value as string[]
  }
  if (tokensAllowed && Array.isArray(value[0])) {
    for (const [i, item] of value.entries()) {
      if (!Array.isArray(item)) return fail(`input[${i}] must be a token array like the others`)
      const problem = checkTokens(item, `input[${i}]`)
      if (problem != null) return fail(problem)
    }
    return value as number[][]
  }
  return fail(`input must be ${expected}`)
}

export function fromOpenAIEmbeddings (body: z.infer<typeof OpenAIEmbeddingsRequest>): EmbeddingRequest {
  return { model: body.model, input: body.input, ...(body.dimensions != null ? { dimensions: body.dimensions } : {}) }
}

export function fromOllamaEmbed (body: z.infer<typeof OllamaEmbedRequest>): EmbeddingRequest {
  return {
    model: body.model,
    input: body.input,
    ...(body.truncate != null ? { truncate: body.truncate } : {}),
    ...(body.dimensions != null ? { dimensions: body.dimensions } : {}),
    ...(body.keep_alive != null ? { keep_alive: body.keep_alive } : {})
  }
}

export function fromOllamaEmbeddings (body: z.infer<typeof OllamaEmbeddingsRequest>): EmbeddingRequest {
  return { model: body.model, input: [body.prompt], ...(body.keep_alive != null ? { keep_alive: body.keep_alive } : {}) }
}

/** Whether this host stores a float32 as OpenAI's base64 does (little-endian). */
const HOST_IS_LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1

/**
 * A vector as OpenAI's base64 encoding: the float32 values' little-endian bytes. On a
 * little-endian host those are the vector's own bytes, encoded without a copy (the `openai`
 * client asks for base64 by default, so this is the common answer).
 */
export function base64Vector (vector: Float32Array): string {
  if (HOST_IS_LITTLE_ENDIAN) return Buffer.from(vector.buffer, vector.byteOffset, vector.byteLength).toString('base64')
  const bytes = Buffer.alloc(vector.length * 4)
  for (let i = 0; i < vector.length; i++) bytes.writeFloatLE(vector[i] as number, i * 4)
  return bytes.toString('base64')
}
