// Embeddings from the embedded backend's model: a node-llama-cpp embedding context on the same
// loaded weights (no second copy of the model), created on the first embedding request so a peer
// that only chats pays nothing for it. One input at a time: the context has one sequence.
import type { LlamaEmbeddingContext, LlamaModel, Token } from 'node-llama-cpp'
import { AbortedError, BadRequestError, UnavailableError } from '../completion/errors.js'
import type { Embedder, EmbeddingResult } from '../embeddings/types.js'

export interface LlamaEmbedderInit {
  modelName: string
  threads: number
  /** Tokens per input; default: the model's training context, at most MAX_EMBED_CONTEXT. */
  contextSize?: number
}

/** Embedding inputs are documents and queries, not conversations: 8k tokens is OpenAI's own per-input bound. */
export const MAX_EMBED_CONTEXT = 8_192

export interface LlamaEmbedder {
  embed: Embedder
  dispose: () => Promise<void>
}

export function createLlamaEmbedder (model: LlamaModel, init: LlamaEmbedderInit): LlamaEmbedder {
  let context: Promise<LlamaEmbeddingContext> | undefined
  let disposed = false
  // One input at a time on the single embedding sequence; requests queue behind each other here.
  let tail: Promise<unknown> = Promise.resolve()
  const contextSize = init.contextSize ?? Math.min(model.trainContextSize, MAX_EMBED_CONTEXT)
  const getContext = async (): Promise<LlamaEmbeddingContext> => {
    context ??= model.createEmbeddingContext({ contextSize, threads: init.threads }).catch((err: Error) => {
      context = undefined
      throw new UnavailableError(`the embedded model cannot embed: ${err.message.split('\n')[0] ?? ''}`)
    })
    return await context
  }

  const embed: Embedder = async (request, { signal }) => {
    if (request.dimensions != null) throw new BadRequestError('the embedded model does not take `dimensions`')
    const run = async (): Promise<EmbeddingResult> => {
      if (disposed) throw new UnavailableError('embedded backend is closed')
      const ctx = await getContext()
      const embeddings: Float32Array[] = []
      let promptTokens = 0
      for (const [i, input] of request.input.entries()) {
        if (signal.aborted) throw new AbortedError('embedding aborted')
        let tokens: Token[] = typeof input === 'string' ? model.tokenize(input) : input as Token[]
        if (tokens.length === 0) throw new BadRequestError(`input ${i} is empty`)
        // node-llama-cpp may add BOS/EOS, and needs the whole input below the context size.
        const evaluated = ctx.calculateInputLength(tokens)
        if (evaluated >= contextSize) {
          if (request.truncate === false) throw new BadRequestError(`input ${i} is ${evaluated} tokens, over the model's ${contextSize - 1}-token context (truncate is off)`)
          tokens = tokens.slice(0, Math.max(1, tokens.length - (evaluated - contextSize + 1)))
        }
        promptTokens += tokens.length
        const embedding = await ctx.getEmbeddingFor(tokens)
        embeddings.push(Float32Array.from(embedding.vector))
      }
      return { model: init.modelName, embeddings, prompt_tokens: promptTokens }
    }
    const result = tail.then(run, run)
    tail = result.catch(() => {})
    return await result
  }

  return {
    embed,
    async dispose () {
      disposed = true
      const ctx = await context?.catch(() => undefined)
      await ctx?.dispose()
    }
  }
}
