import { MAX_REQUEST_TOKENS } from '../completion/token-budget.js'
import { z } from 'zod'
import type { Decoded } from '../membership/announcement.js'
import type { Load, Tier } from '../membership/types.js'
import type { CompletionRequest, CompletionResult } from '../completion/types.js'
import { MAX_KEEP_ALIVE_CHARS, MAX_KEY_CHARS, MAX_REQUEST_FRAME_BYTES, MAX_REQUEST_ID_LENGTH, MAX_RESPONSE_FRAME_BYTES } from './constants.js'
import { isCompletionRequest, isRequestFrame, isResponseFrame } from './frame-checks.js'

// Wire frames of `/harombe/complete/1.0.0` (snake_case: it is a wire format). Each frame is one
// length-prefixed UTF-8 JSON object. The caller sends one RequestFrame; the serving peer answers
// with delta frames and then exactly one trailer (`done` or `error`).

export type { Decoded }

/** The first and only frame the caller writes. `model` may be absent: the serving peer picks one. */
export interface RequestFrame {
  /** Correlates the attempt in both peers' logs. */
  id: string
  request: CompletionRequest
}

/** Batched streamed text (several tokens per frame, LIBP2P-NOTES 8). */
export interface DeltaFrame {
  type: 'delta'
  content: string
  /** Backend deltas merged into this frame; absent means one. */
  tokens?: number
}

/** Who answered, so the HTTP edge can report `node: {name, peer_id, tier}` without a view lookup. */
export interface ServedBy {
  name: string
  peer_id: string
  tier: Tier
}

/** Success trailer: the CompletionResult fields at the top level, as DESIGN.md lists them. */
export interface DoneFrame extends CompletionResult {
  type: 'done'
  served_by?: ServedBy
  /** The serving peer's load as the answer ends: fresher than its last announcement (issue 12). */
  load?: Load
}

/** Failure trailer: a CompletionError's wire code and whether another peer might succeed. */
export interface ErrorFrame {
  type: 'error'
  /** A CompletionErrorCode; unknown codes from newer peers are kept and mapped by errorFromCode. */
  code: string
  message: string
  retryable: boolean
}

export type TrailerFrame = DoneFrame | ErrorFrame
export type ResponseFrame = DeltaFrame | TrailerFrame

/** Error messages cross the wire for humans; a stack trace or a whole upstream body does not need to. */
export const MAX_ERROR_MESSAGE_CHARS = 1_000

const name = z.string().min(1).max(256)
const count = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER)
const tier = z.union([z.literal(0), z.literal(1), z.literal(2)])

const ToolCallSchema = z.object({
  id: z.string().max(256),
  type: z.literal('function'),
  function: z.object({ name, arguments: z.string() })
})

const ToolDefinitionSchema = z.object({
  type: z.literal('function'),
  function: z.object({
    name,
    description: z.string().optional(),
    parameters: z.record(z.string(), z.unknown()).optional()
  })
})

const ChatMessageSchema = z.object({
  role: z.enum(['system', 'user', 'assistant', 'tool']),
  content: z.string().nullable(),
  tool_calls: z.array(ToolCallSchema).max(256).optional(),
  tool_call_id: z.string().max(256).optional(),
  name: z.string().max(256).optional()
}).refine(m => m.content !== null || m.role === 'assistant', {
  // Only an assistant turn that made tool calls may have no text (OpenAI's shape).
  message: 'content may be null only for an assistant message',
  path: ['content']
})

/** Unknown fields are dropped rather than rejected, so a newer 1.0.0 caller's hints do not fail the request. */
const CompletionRequestSchema = z.object({
  messages: z.array(ChatMessageSchema).min(1).max(100_000),
  tools: z.array(ToolDefinitionSchema).max(1_024).optional(),
  temperature: z.number().min(0).max(2).optional(),
  max_tokens: z.number().int().positive().max(MAX_REQUEST_TOKENS).optional(),
  model: name.optional(),
  tier: tier.optional(),
  stop: z.array(z.string().min(1).max(256)).max(16).optional(),
  // A handover: the text the client already has, for the backend to continue (bounded by the frame size)
  continuation: z.object({ prefix: z.string() }).optional(),
  // Cache hints (issue 23): the serving peer's backend receives them unchanged
  affinity_key: z.string().max(MAX_KEY_CHARS).optional(),
  prompt_cache_key: z.string().max(MAX_KEY_CHARS).optional(),
  cache_prompt: z.boolean().optional(),
  keep_alive: z.union([z.string().max(MAX_KEEP_ALIVE_CHARS), z.number().finite()]).optional(),
  // A raw prompt (issue 29): the serving backend applies no chat template
  raw: z.boolean().optional()
})

const RequestFrameSchema = z.object({
  id: z.string().min(1).max(MAX_REQUEST_ID_LENGTH),
  request: CompletionRequestSchema
})

const DeltaFrameSchema = z.object({
  type: z.literal('delta'),
  content: z.string(),
  // Backend deltas (about a token each) merged into this frame; absent means one
  tokens: count.optional()
})

const DoneFrameSchema = z.object({
  type: z.literal('done'),
  message: z.object({
    role: z.literal('assistant'),
    content: z.string().nullable(),
    tool_calls: z.array(ToolCallSchema).max(256).optional()
  }),
  finish_reason: z.enum(['stop', 'length', 'tool_calls']),
  model: name,
  usage: z.object({
    prompt_tokens: count,
    completion_tokens: count,
    // Prompt tokens the serving backend took from its cache (issue 23); absent: it does not know
    prompt_tokens_details: z.object({ cached_tokens: count }).optional()
  }),
  served_by: z.object({ name: z.string().min(1).max(128), peer_id: z.string().min(1).max(128), tier }).optional(),
  load: z.object({ active: count, queued: count, capacity: count }).optional()
})

const ErrorFrameSchema = z.object({
  type: z.literal('error'),
  code: z.string().min(1).max(64),
  message: z.string(),
  retryable: z.boolean()
})

const ResponseFrameSchema = z.discriminatedUnion('type', [DeltaFrameSchema, DoneFrameSchema, ErrorFrameSchema])

/** The schemas themselves, for the test that the hand-written checks (frame-checks.ts) never accept more. */
export const frameSchemas = { request: CompletionRequestSchema, requestFrame: RequestFrameSchema, responseFrame: ResponseFrameSchema }

const encoder = new TextEncoder()
const decoder = new TextDecoder('utf-8', { fatal: true })

/**
 * Checks a request before it is sent, with the same rules the serving peer applies, so a bad
 * request fails locally as bad_request instead of costing a dial and a round trip.
 */
export function validateRequest (request: unknown): Decoded<CompletionRequest> {
  if (isCompletionRequest(request)) return { ok: true, value: request as CompletionRequest }
  const result = CompletionRequestSchema.safeParse(request)
  if (!result.success) return { ok: false, reason: `malformed: ${describeIssue(result.error, ['request'])}` }
  return { ok: true, value: result.data }
}

/**
 * `request` as it goes on the wire: without `peer` and `continue`, which only the entry peer reads
 * (the serving peer's decoder would drop them), so both peers' checks take their fast path.
 */
export function wireRequest (request: CompletionRequest): CompletionRequest {
  if (!('peer' in request) && !('continue' in request)) return request
  const wire = { ...request }
  delete wire.peer
  delete wire.continue
  return wire
}

/** Throws RangeError when the frame is over MAX_REQUEST_FRAME_BYTES: no peer would read it. */
export function encodeRequestFrame (frame: RequestFrame): Uint8Array {
  const bytes = encoder.encode(JSON.stringify(frame))
  if (bytes.byteLength > MAX_REQUEST_FRAME_BYTES) {
    throw new RangeError(`request is ${bytes.byteLength} bytes, over the ${MAX_REQUEST_FRAME_BYTES}-byte frame limit`)
  }
  return bytes
}

/** Validates the caller's request frame. Never throws: bad input is a `{ ok: false, reason }`. */
export function decodeRequestFrame (bytes: Uint8Array): Decoded<RequestFrame> {
  if (bytes.byteLength > MAX_REQUEST_FRAME_BYTES) {
    return { ok: false, reason: `oversize: ${bytes.byteLength} bytes > ${MAX_REQUEST_FRAME_BYTES}` }
  }
  const parsed = parseJson(bytes)
  if (!parsed.ok) return parsed
  // zod only for what the hand-written check cannot vouch for: a rejection's reason, unknown fields to drop.
  if (isRequestFrame(parsed.value)) return { ok: true, value: parsed.value as RequestFrame }
  const result = RequestFrameSchema.safeParse(parsed.value)
  if (!result.success) return { ok: false, reason: `malformed: ${describeIssue(result.error)}` }
  return { ok: true, value: result.data }
}

/**
 * Encodes a response frame; error messages are truncated. The caller checks the size of a
 * `done` frame against MAX_RESPONSE_FRAME_BYTES (an answer too large to send becomes an error).
 */
export function encodeResponseFrame (frame: ResponseFrame): Uint8Array {
  return encoder.encode(responseFrameText(frame))
}

/** The JSON text of a response frame, as encodeResponseFrame encodes it (for writers that encode it into a larger buffer). */
export function responseFrameText (frame: ResponseFrame): string {
  if (frame.type === 'error' && frame.message.length > MAX_ERROR_MESSAGE_CHARS) {
    frame = { ...frame, message: frame.message.slice(0, MAX_ERROR_MESSAGE_CHARS - 1) + '…' }
  }
  return JSON.stringify(frame)
}

/** Validates one frame from the serving peer. Never throws. */
export function decodeResponseFrame (bytes: Uint8Array): Decoded<ResponseFrame> {
  if (bytes.byteLength > MAX_RESPONSE_FRAME_BYTES) {
    return { ok: false, reason: `oversize: ${bytes.byteLength} bytes > ${MAX_RESPONSE_FRAME_BYTES}` }
  }
  const parsed = parseJson(bytes)
  if (!parsed.ok) return parsed
  if (isResponseFrame(parsed.value)) return { ok: true, value: parsed.value as ResponseFrame }
  const result = ResponseFrameSchema.safeParse(parsed.value)
  if (!result.success) return { ok: false, reason: `malformed: ${describeIssue(result.error)}` }
  return { ok: true, value: result.data }
}

/** The CompletionResult inside a `done` trailer, without the wire-only fields. */
export function resultOf (frame: DoneFrame): CompletionResult {
  return { message: frame.message, finish_reason: frame.finish_reason, model: frame.model, usage: frame.usage }
}

function parseJson (bytes: Uint8Array): Decoded<unknown> {
  try {
    return { ok: true, value: JSON.parse(decoder.decode(bytes)) }
  } catch (err: any) {
    return { ok: false, reason: `malformed: not UTF-8 JSON (${err?.message ?? err})` }
  }
}

function describeIssue (error: z.ZodError, prefix: PropertyKey[] = []): string {
  const issue = error.issues[0]
  if (issue == null) return 'invalid'
  const path = [...prefix, ...issue.path].map(String)
  return `${path.length > 0 ? path.join('.') : '(root)'}: ${issue.message}`
}
