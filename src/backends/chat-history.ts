// OpenAI-shaped messages, tools and tool calls as node-llama-cpp speaks them: the embedded
// backend's adapter between our completion types and LlamaChat's history and functions.
import { randomBytes } from 'node:crypto'
import type { ChatHistoryItem, ChatModelFunctionCall, ChatModelFunctions, ChatModelResponse } from 'node-llama-cpp'
import type { ChatMessage, ToolCall, ToolDefinition } from '../completion/types.js'

/**
 * OpenAI-style messages as node-llama-cpp chat history. Tool results are attached to the call
 * they answer (`tool_call_id`). History ends with the model turn to generate: a new empty one,
 * or, right after tool results, the assistant turn that made the calls (the model continues it,
 * as node-llama-cpp does with its own function calling). `continueLast` makes a trailing assistant
 * message the turn to continue (a handover's prefix) instead of a finished one.
 */
export function toChatHistory (messages: ChatMessage[], continueLast = false): ChatHistoryItem[] {
  const history: ChatHistoryItem[] = []
  const calls = new Map<string, ChatModelFunctionCall>()
  for (const message of messages) {
    const text = message.content ?? ''
    switch (message.role) {
      case 'system':
        history.push({ type: 'system', text })
        break
      case 'user':
        history.push({ type: 'user', text })
        break
      case 'assistant': {
        const response: ChatModelResponse['response'] = text === '' ? [] : [text]
        for (const call of message.tool_calls ?? []) {
          const item: ChatModelFunctionCall = { type: 'functionCall', name: call.function.name, params: parseArguments(call.function.arguments), result: null }
          calls.set(call.id, item)
          response.push(item)
        }
        history.push({ type: 'model', response })
        break
      }
      case 'tool': {
        const call = message.tool_call_id != null ? calls.get(message.tool_call_id) : undefined
        if (call != null) call.result = text
        // A result for a call we never saw still carries information: keep it as user text.
        else history.push({ type: 'user', text: `Result of ${message.name ?? 'a tool call'}: ${text}` })
        break
      }
    }
  }
  const last = history.at(-1)
  const continuesToolCalls = last?.type === 'model' && typeof last.response.at(-1) === 'object'
  const continuesText = continueLast && last?.type === 'model'
  if (!continuesToolCalls && !continuesText) history.push({ type: 'model', response: [] })
  return history
}

function parseArguments (text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return text
  }
}

/**
 * Tools as node-llama-cpp functions. The chat wrapper documents them in the prompt and parses
 * calls the model makes; a model that never emits the call syntax (like harombe-tiny) simply
 * answers in text. Parameter schemas pass through: node-llama-cpp supports the common JSON Schema subset.
 */
export function toFunctions (tools: ToolDefinition[] | undefined): ChatModelFunctions | undefined {
  if (tools == null || tools.length === 0) return undefined
  return Object.fromEntries(tools.map(tool => [tool.function.name, {
    ...(tool.function.description != null ? { description: tool.function.description } : {}),
    ...(tool.function.parameters != null ? { params: tool.function.parameters as any } : {})
  }]))
}

export function toToolCall (call: { functionName: string, params: unknown }): ToolCall {
  return {
    id: `call_${randomBytes(8).toString('hex')}`,
    type: 'function',
    function: { name: call.functionName, arguments: JSON.stringify(call.params ?? {}) }
  }
}
