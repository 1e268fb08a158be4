// The embedded backend's raw-prompt path (`POST /v1/completions`, issue 29): node-llama-cpp's
// plain text completion on a borrowed sequence, no chat template. Returns what the chat path's
// generation returns, so embedded.ts treats both the same after generation.
import { LlamaCompletion, type LlamaContextSequence, type Token } from 'node-llama-cpp'

export interface RawGeneration {
  response: string
  functionCalls?: undefined
  metadata: { stopReason: string }
}

export interface RawGenerateOptions {
  temperature: number
  maxTokens?: number
  customStopTriggers?: string[]
  signal: AbortSignal
  onToken: (tokens: Token[]) => void
  onTextChunk: (text: string) => void
}

export async function generateRaw (sequence: LlamaContextSequence, prompt: Token[], options: RawGenerateOptions): Promise<RawGeneration> {
  const completion = new LlamaCompletion({ contextSequence: sequence })
  try {
    const out = await completion.generateCompletionWithMeta(prompt, {
      temperature: options.temperature,
      ...(options.maxTokens != null ? { maxTokens: options.maxTokens } : {}),
      ...(options.customStopTriggers != null ? { customStopTriggers: options.customStopTriggers } : {}),
      signal: options.signal,
      stopOnAbortSignal: true,
      onToken: options.onToken,
      onTextChunk: options.onTextChunk
    })
    return { response: out.response, metadata: { stopReason: out.metadata.stopReason } }
  } finally {
    completion.dispose({ disposeSequence: false })
  }
}
