// Reading one JSON frame from the network: strict UTF-8, JSON, then a zod schema. Each failure is
// a reason the caller logs before it drops the frame; size bounds stay with each protocol.
import type { z } from 'zod'

export type Decoded<T> = { ok: true, value: T } | { ok: false, reason: string }

// fatal: a frame with invalid UTF-8 is malformed, not silently repaired.
const decoder = new TextDecoder('utf-8', { fatal: true })

export function decodeJsonFrame<T> (bytes: Uint8Array, schema: z.ZodType<T>): Decoded<T> {
  let value: unknown
  try {
    value = JSON.parse(decoder.decode(bytes))
  } catch (err: any) {
    return { ok: false, reason: `malformed: not UTF-8 JSON (${err?.message ?? err})` }
  }
  const result = schema.safeParse(value)
  if (!result.success) {
    const issue = result.error.issues[0]
    return { ok: false, reason: `malformed: ${issue != null ? `${issue.path.map(String).join('.') || '(root)'}: ${issue.message}` : 'invalid'}` }
  }
  return { ok: true, value: result.data }
}
