import type { BackendRequest, ChatMessage } from '../completion/types.js'

/**
 * The messages a server gets for a continued answer: the original ones plus one trailing
 * assistant message holding the text already delivered, which chat servers continue.
 */
export function withPrefix (request: Pick<BackendRequest, 'messages' | 'continuation'>): ChatMessage[] {
  if (request.continuation == null) return request.messages
  return [...request.messages, { role: 'assistant', content: request.continuation.prefix }]
}
