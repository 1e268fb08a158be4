import type { BackendRequest } from '../completion/types.js'

/**
 * Ollama's `options` for a request (chat and raw generate alike), or undefined when there is none.
 * `!== undefined`, not truthiness: temperature 0 (greedy) must reach the server as 0.
 */
export function ollamaModelOptions (request: Pick<BackendRequest, 'temperature' | 'max_tokens' | 'stop'>): Record<string, unknown> | undefined {
  const options: Record<string, unknown> = {}
  if (request.temperature !== undefined) options.temperature = request.temperature
  if (request.max_tokens !== undefined) options.num_predict = request.max_tokens
  if (request.stop != null && request.stop.length > 0) options.stop = request.stop
  return Object.keys(options).length > 0 ? options : undefined
}
