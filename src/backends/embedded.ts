// The embedded backend: a GGUF model run in-process by node-llama-cpp (llama.cpp, CPU build).
// One context with N sequences; each request borrows a sequence, so N requests generate at once
// (llama.cpp batches them) and the rest wait for a free one. A sequence keeps the tokens it
// evaluated (its prompt cache): the next request takes the free sequence sharing the longest
// token prefix with its prompt, and node-llama-cpp evaluates only the tokens after that prefix.
import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { open } from 'node:fs/promises'
import { availableParallelism } from 'node:os'
import { basename } from 'node:path'
import { getLlama, LlamaChat, resolveChatWrapper } from 'node-llama-cpp'
import type { ChatHistoryItem, ChatModelFunctions, ChatWrapper, Llama, LlamaContextSequence, Token, Tokenizer } from 'node-llama-cpp'
import { AbortedError, BadRequestError, CompletionError, InternalError, UnavailableError } from '../completion/errors.js'
import type { Backend, BackendRequest, CompleteOptions, CompletionResult, FinishReason, Health } from '../completion/types.js'
import { cappedTokens } from '../completion/token-budget.js'
import { readGgufHeader } from './gguf-writer.js'
import { withPrefix } from './prefix.js'
import { toChatHistory, toFunctions, toToolCall } from './chat-history.js'
import { chooseSequence } from './sequence-choice.js'
import { createLlamaEmbedder } from './embed-llama.js'
import { generateRaw } from './embedded-raw.js'
import { embeddedModelInfo } from './embedded-info.js'
import { rawPromptOf } from './raw-prompt.js'
import { linkSignals } from '../util/linked-abort.js'
import type { Embedder } from '../embeddings/types.js'
import type { Logger } from '../log.js'

/** Two at once: a short request need not wait behind a long one; each sequence costs its own KV cache. */
export const DEFAULT_SEQUENCES = 2
/** node-llama-cpp's suggested balance when the request has no temperature (0 stays greedy). */
export const DEFAULT_TEMPERATURE = 0.8
/**
 * llama.cpp threads per context: at most 2, and one core left for the peer's event loop (gossip,
 * HTTP, streaming). ggml threads spin at a barrier after every operation, so a thread that loses
 * its core stalls each token: on this 2-core machine (other work running) a tiny model gave
 * ~1,100 tokens/s with 1 thread, ~75 with 2, and node-llama-cpp's default (at least 4) drops to
 * single digits. Raise `threads` for big models on many idle cores.
 */
export const defaultThreads = (): number => Math.max(1, Math.min(2, availableParallelism() - 1))

export interface EmbeddedBackendInit {
  /** Path of a GGUF file. */
  modelFile: string
  /** Name the model is served under; default: the file name without `.gguf`. */
  modelName?: string
  /** Requests generated at once (context sequences); more wait for a free one. Default 2. */
  sequences?: number
  /** Default: min(2, cores - 1), at least 1; see `defaultThreads`. */
  threads?: number
  /** Tokens per sequence; default: as large as memory allows, up to the model's training context. */
  contextSize?: number
  /**
   * Keep each sequence's evaluated tokens between requests and give a request the free sequence
   * with the longest common token prefix, so a shared system prompt or a growing conversation is
   * evaluated once. Default true; false (`start --no-prompt-cache`) clears a sequence after every
   * request, so no tokens or KV cache outlive the request that evaluated them.
   */
  promptCache?: boolean
  logger?: Logger
  /** Model load progress, 0..1. */
  onProgress?: (fraction: number) => void
  /**
   * Tokens for a request that sets no max_tokens. Default: none, so it generates until the model
   * stops, bounded by the context (and by the peer's --max-tokens-cap, see requestBudget). Only a
   * model that never stops by itself (the tiny one) needs one.
   */
  defaultMaxTokens?: number
}

/** The model file is missing, unreadable or not a model llama.cpp can load. */
export class ModelFileError extends Error {
  static name = 'ModelFileError'
  name = ModelFileError.name
  constructor (readonly path: string, reason: string) {
    super(`cannot load model ${path}: ${reason}`)
  }
}

// One llama.cpp binding per process: loading it is slow and every backend can share it.
let llamaPromise: Promise<Llama> | undefined
let llamaLogger: Logger | undefined

function loadLlama (): Promise<Llama> {
  llamaPromise ??= getLlama({
    gpu: false,
    // Use the prebuilt CPU binary only: never compile or download at runtime.
    build: 'never',
    // Upper bound over all contexts in this process, so several backends cannot oversubscribe.
    maxThreads: availableParallelism(),
    // llama.cpp would print to the console; peers keep stdout for their own output.
    logger: (level, message) => {
      const text = message.trim()
      if (text === '') return
      if (level === 'error' || level === 'fatal') llamaLogger?.warn({ component: 'llama.cpp' }, text)
      else llamaLogger?.debug({ component: 'llama.cpp' }, text)
    }
  }).catch(err => {
    llamaPromise = undefined
    throw err
  })
  return llamaPromise
}

/** Fails fast with a clear reason before llama.cpp sees the file (its own errors are vague). */
async function checkModelFile (path: string): Promise<void> {
  let header: Uint8Array
  try {
    const file = await open(path, 'r')
    try {
      header = new Uint8Array(24)
      const { bytesRead } = await file.read(header, 0, 24, 0)
      header = header.subarray(0, bytesRead)
    } finally {
      await file.close()
    }
  } catch (err: any) {
    const reasons: Record<string, string> = { ENOENT: 'no such file', EISDIR: 'is a directory', EACCES: 'permission denied' }
    throw new ModelFileError(path, reasons[err?.code] ?? firstLine(err?.message ?? String(err)))
  }
  const gguf = readGgufHeader(header)
  if (gguf == null) throw new ModelFileError(path, 'not a GGUF file')
  if (gguf.version < 2 || gguf.version > 3) throw new ModelFileError(path, `unsupported GGUF version ${gguf.version}`)
}

const firstLine = (text: string): string => text.split('\n')[0]?.trim() ?? ''

/** Loads the model once and serves completions from it; throws ModelFileError for a bad file. */
export async function createEmbeddedBackend (init: EmbeddedBackendInit): Promise<Backend> {
  const log = init.logger?.child({ component: 'embedded' })
  const path = init.modelFile
  const sequences = init.sequences ?? DEFAULT_SEQUENCES
  const threads = init.threads ?? defaultThreads()
  if (!Number.isInteger(sequences) || sequences < 1) throw new RangeError(`sequences must be a positive integer, got ${sequences}`)
  if (!Number.isInteger(threads) || threads < 1) throw new RangeError(`threads must be a positive integer, got ${threads}`)
  await checkModelFile(path)
  if (init.logger != null) llamaLogger = init.logger
  const llama = await loadLlama()
  const started = Date.now()
  const model = await llama.loadModel({ modelPath: path, onLoadProgress: init.onProgress })
    .catch((err: Error) => { throw new ModelFileError(path, `not a loadable GGUF model (${firstLine(err.message)})`) })
  try {
    const context = await model.createContext({ sequences, threads, contextSize: init.contextSize })
    const pool = new SequencePool(Array.from({ length: sequences }, () => context.getSequence()))
    const promptCache = init.promptCache ?? true
    log?.info({ model: path, sequences, threads, contextSize: context.contextSize, promptCache, ms: Date.now() - started }, 'model loaded')
    const embedder = createLlamaEmbedder(model, { modelName: init.modelName ?? basename(path).replace(/\.gguf$/i, ''), threads })
    const backend = new EmbeddedBackend({
      modelName: init.modelName ?? basename(path).replace(/\.gguf$/i, ''),
      chatWrapper: resolveChatWrapper(model),
      pool,
      capacity: sequences,
      contextSize: context.contextSize,
      promptCache,
      tokenizer: model.tokenizer,
      ...(log != null ? { log } : {}),
      ...(init.defaultMaxTokens != null ? { defaultMaxTokens: init.defaultMaxTokens } : {}),
      dispose: async () => {
        await embedder.dispose()
        await context.dispose()
        await model.dispose()
      }
    })
    backend.embed = embedder.embed
    const info = embeddedModelInfo(model, init.modelName ?? basename(path).replace(/\.gguf$/i, ''), context.contextSize)
    backend.show = info.show
    backend.ps = info.ps
    // In the background: a 40 GB file takes a while, and nothing waits for it but handovers.
    fileSha256(path).then(digest => { backend.digest = digest }, (err: Error) => { log?.warn(`cannot hash ${path}: ${err.message}`) })
    return backend
  } catch (err) {
    await model.dispose()
    throw err
  }
}

/** A file's sha256 in hex, read in chunks so the event loop keeps serving meanwhile. */
async function fileSha256 (path: string): Promise<string> {
  const hash = createHash('sha256')
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer)
  return hash.digest('hex')
}

/** A free sequence and when it last served a request (performance.now(); 0 for never). */
interface FreeSequence {
  sequence: LlamaContextSequence
  lastUsed: number
}

/**
 * Free sequences plus a FIFO of requests waiting for one. A request that finds several free takes
 * the one whose tokens share the longest prefix with its prompt (`chooseSequence`); a waiting
 * request takes the next one released, whatever it holds: first come, first served.
 */
class SequencePool {
  private readonly waiters: Array<{ resolve: (s: LlamaContextSequence) => void, reject: (err: Error) => void }> = []
  private readonly free: FreeSequence[]

  constructor (sequences: LlamaContextSequence[]) {
    this.free = sequences.map(sequence => ({ sequence, lastUsed: 0 }))
  }

  async acquire (prompt: readonly Token[], signal: AbortSignal): Promise<LlamaContextSequence> {
    const choice = chooseSequence(this.free.map(f => ({ tokens: f.sequence.contextTokens, lastUsed: f.lastUsed })), prompt)
    if (choice != null) return this.free.splice(choice.index, 1)[0]!.sequence
    return await new Promise((resolve, reject) => {
      const waiter = {
        resolve: (s: LlamaContextSequence) => { signal.removeEventListener('abort', onAbort); resolve(s) },
        reject: (err: Error) => { signal.removeEventListener('abort', onAbort); reject(err) }
      }
      const onAbort = (): void => {
        this.waiters.splice(this.waiters.indexOf(waiter), 1)
        reject(new AbortedError('completion aborted while waiting for a free sequence'))
      }
      signal.addEventListener('abort', onAbort, { once: true })
      this.waiters.push(waiter)
    })
  }

  release (sequence: LlamaContextSequence): void {
    const next = this.waiters.shift()
    if (next != null) next.resolve(sequence)
    else this.free.push({ sequence, lastUsed: performance.now() })
  }

  rejectWaiting (err: Error): void {
    for (const waiter of this.waiters.splice(0)) waiter.reject(err)
  }
}

interface EmbeddedBackendComponents {
  modelName: string
  chatWrapper: ChatWrapper
  pool: SequencePool
  capacity: number
  /** Tokens each sequence holds. */
  contextSize: number
  promptCache: boolean
  tokenizer: Tokenizer
  log?: Logger
  defaultMaxTokens?: number
  dispose: () => Promise<void>
}

class EmbeddedBackend implements Backend {
  readonly kind = 'embedded'
  readonly capacity: number
  private readonly running = new Set<Promise<unknown>>()
  /** Aborts in-flight generations on close; their callers get UnavailableError. */
  private readonly closing = new AbortController()
  private closed?: Promise<void>

  /** The GGUF file's sha256, once hashed. */
  digest?: string
  readonly defaultMaxTokens?: number
  /** Embeddings from the same weights (embed-llama.ts). */
  embed?: Embedder
  /** Details and running model from the GGUF (embedded-info.ts). */
  show?: Backend['show']
  ps?: Backend['ps']

  constructor (private readonly c: EmbeddedBackendComponents) {
    this.capacity = c.capacity
    if (c.defaultMaxTokens != null) this.defaultMaxTokens = c.defaultMaxTokens
  }

  async models (): Promise<string[]> {
    return [this.c.modelName]
  }

  digests (): Record<string, string> {
    return this.digest != null ? { [this.c.modelName]: this.digest } : {}
  }

  async health (): Promise<Health> {
    return this.closed == null ? { ok: true, latencyMs: 0 } : { ok: false, reason: 'embedded backend is closed' }
  }

  async complete (request: BackendRequest, options: CompleteOptions): Promise<CompletionResult> {
    const run = this.run(request, options)
    this.running.add(run)
    try {
      return await run
    } finally {
      this.running.delete(run)
    }
  }

  private async run (request: BackendRequest, { signal, onDelta }: CompleteOptions): Promise<CompletionResult> {
    if (this.closed != null) throw new UnavailableError('embedded backend is closed')
    if (signal.aborted) throw new AbortedError('completion aborted before it started')
    const raw = request.raw === true
    const { history, functions, prompt } = raw ? { history: [], functions: undefined, prompt: this.c.tokenizer(rawPromptOf(request)) } : this.render(request)
    // Refuse up front, like OpenAI's context_length_exceeded: node-llama-cpp would fail deep inside its context shift.
    if (prompt.length >= this.c.contextSize) {
      throw new BadRequestError(`prompt is ${prompt.length} tokens; ${this.c.modelName} holds ${this.c.contextSize} per request`)
    }
    const sequence = await this.c.pool.acquire(prompt, signal)
    // Why generation stopped early, if it did: the caller left, or the backend is closing.
    const stoppedError = (): CompletionError | undefined => signal.aborted
      ? new AbortedError('completion aborted by the caller')
      : this.closing.signal.aborted ? new UnavailableError('embedded backend closed during the completion') : undefined
    // A raw prompt (issue 29) is a plain text completion on the sequence: no chat, no template.
    const chat = raw ? undefined : new LlamaChat({ contextSequence: sequence, chatWrapper: this.c.chatWrapper })
    // Whether the sequence's tokens are whole and its own: kept for the next request only then.
    let keep = false
    // Not AbortSignal.any(): on Node 20 it leaks on the long-lived closing signal, per completion (issue 25).
    const linked = linkSignals([signal, this.closing.signal])
    try {
      // LlamaChat keeps the tokens the sequence shares with the prompt and erases the rest
      // (adaptStateToTokens); the last prompt token is always evaluated again, for its logits.
      const cachedTokens = this.c.promptCache && !raw
        ? Math.max(0, Math.min(sequence.compareContextTokens(prompt).firstDifferentIndex, prompt.length - 1))
        : 0
      const started = performance.now()
      let completionTokens = 0
      const generation = {
        temperature: request.temperature ?? DEFAULT_TEMPERATURE,
        // Never past the context: node-llama-cpp would shift it and generate for ever (the tiny model never stops by itself).
        maxTokens: cappedTokens(request.max_tokens ?? this.c.defaultMaxTokens, 0, sequence.contextSize - prompt.length),
        signal: linked.signal,
        onToken: (tokens: Token[]) => { completionTokens += tokens.length },
        onTextChunk: (text: string) => { if (text !== '') onDelta?.({ content: text }) }
      }
      const response = chat == null
        ? await generateRaw(sequence, prompt, { ...generation, ...(request.stop != null ? { customStopTriggers: request.stop } : {}) })
        : await chat.generateResponse(history, {
          ...generation,
          customStopTriggers: request.stop,
          functions,
          // Return what was generated instead of throwing; the abort is reported below.
          stopOnAbortSignal: true
        })
      // Stopped between two tokens: what the sequence holds is consistent, even after an abort.
      keep = true
      const stopped = stoppedError()
      if (stopped != null) throw stopped
      this.c.log?.debug({ promptTokens: prompt.length, cachedTokens, completionTokens, ms: Math.round(performance.now() - started) }, 'completion done')
      const toolCalls = (response.functionCalls ?? []).map(toToolCall)
      const finish: FinishReason = toolCalls.length > 0
        ? 'tool_calls'
        : response.metadata.stopReason === 'maxTokens' ? 'length' : 'stop'
      return {
        message: {
          role: 'assistant',
          content: toolCalls.length > 0 && response.response === '' ? null : response.response,
          ...(toolCalls.length > 0 ? { tool_calls: toolCalls } : {})
        },
        finish_reason: finish,
        model: this.c.modelName,
        // A raw completion's reuse of the sequence is node-llama-cpp's own: no cached figure is claimed for it.
        usage: raw ? { prompt_tokens: prompt.length, completion_tokens: completionTokens } : { prompt_tokens: prompt.length, completion_tokens: completionTokens, prompt_tokens_details: { cached_tokens: cachedTokens } }
      }
    } catch (err) {
      // An abort may surface as node-llama-cpp's own error (e.g. during prompt evaluation).
      const stopped = stoppedError()
      if (stopped != null) throw stopped
      if (err instanceof CompletionError) throw err
      throw new InternalError(`embedded generation failed: ${(err as Error)?.message ?? String(err)}`)
    } finally {
      linked.release()
      chat?.dispose({ disposeSequence: false })
      // Without the prompt cache, or after a failure that may have left the sequence half
      // evaluated, the next request starts from an empty state.
      if (!this.c.promptCache || !keep) await sequence.clearHistory().catch(() => {})
      this.c.pool.release(sequence)
    }
  }

  /**
   * The chat history and the prompt tokens LlamaChat will evaluate for it (it renders the same
   * history the same way), known before a sequence is chosen so the choice can follow the longest
   * cached prefix. A handover's prefix is the model turn's start, evaluated as prompt.
   */
  private render (request: BackendRequest): { history: ChatHistoryItem[], functions: ChatModelFunctions | undefined, prompt: Token[] } {
    try {
      const history = toChatHistory(withPrefix(request), request.continuation != null)
      const functions = toFunctions(request.tools)
      const { contextText } = this.c.chatWrapper.generateContextState({ chatHistory: history, availableFunctions: functions })
      return { history, functions, prompt: contextText.tokenize(this.c.tokenizer) }
    } catch (err) {
      if (err instanceof CompletionError) throw err
      throw new InternalError(`embedded prompt rendering failed: ${(err as Error)?.message ?? String(err)}`)
    }
  }

  async close (): Promise<void> {
    this.closed ??= (async () => {
      this.closing.abort()
      this.c.pool.rejectWaiting(new UnavailableError('embedded backend closed'))
      await Promise.allSettled([...this.running])
      await this.c.dispose()
    })()
    await this.closed
  }
}
