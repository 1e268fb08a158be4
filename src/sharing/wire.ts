import { z } from 'zod'
import { decodeJsonFrame, type Decoded } from '../util/json-frame.js'
import { MAX_CATALOGUE_ENTRIES, MAX_CONTROL_FRAME_BYTES } from './constants.js'

// Frames of `/harombe/models/1.0.0` (snake_case: a wire format). One request per stream, as one
// length-prefixed JSON frame; the answer is one JSON frame, and for a chunk that frame announces
// `length` and exactly that many bytes follow in raw data frames. A stream that ends before them
// is a failure the length exposes (LIBP2P-NOTES 6), and the chunk's hash catches any other lie.

const sha256 = z.string().regex(/^[0-9a-f]{64}$/, 'expected 64 lowercase hex digits')
const printable = z.string().min(1).max(256).regex(/^[^\u0000-\u001f\u007f-\u009f]*$/, 'contains control characters')
const size = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER)

/** The request names a file by its hash only: there is no field a path could go in. */
const RequestSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('catalogue') }),
  z.strictObject({ type: z.literal('hashes'), sha256 }),
  z.strictObject({ type: z.literal('chunk'), sha256, index: z.number().int().min(0).max(10_000_000) })
])

export type ModelsRequest = z.output<typeof RequestSchema>

const CatalogueFileSchema = z.object({ name: printable, size, sha256, kind: z.enum(['models-dir', 'share-dir', 'ollama']) })
export type CatalogueFile = z.output<typeof CatalogueFileSchema>

/** Why a request was refused; `busy` is the only one worth asking the same peer again. */
export type RefusalCode = 'not_shared' | 'busy' | 'bad_request' | 'changed' | 'internal'

const ResponseSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('catalogue'), files: z.array(CatalogueFileSchema).max(MAX_CATALOGUE_ENTRIES), hashing: z.number().int().min(0).optional() }),
  z.object({ type: z.literal('hashes'), sha256, size, chunk_size: z.number().int().min(1).max(1024 * 1024 * 1024), chunks: z.array(sha256).max(40_000) }),
  z.object({ type: z.literal('chunk'), index: z.number().int().min(0), length: z.number().int().min(0).max(1024 * 1024 * 1024) }),
  z.object({ type: z.literal('error'), code: z.enum(['not_shared', 'busy', 'bad_request', 'changed', 'internal']), message: z.string().max(1_000) })
])

export type ModelsResponse = z.output<typeof ResponseSchema>

const encoder = new TextEncoder()

export function encodeFrame (value: ModelsRequest | ModelsResponse): Uint8Array {
  return encoder.encode(JSON.stringify(value))
}

export function decodeRequest (bytes: Uint8Array): Decoded<ModelsRequest> {
  return decodeWith(RequestSchema, bytes)
}

export function decodeResponse (bytes: Uint8Array): Decoded<ModelsResponse> {
  return decodeWith(ResponseSchema, bytes)
}

function decodeWith<T> (schema: z.ZodType<T>, bytes: Uint8Array): Decoded<T> {
  if (bytes.byteLength > MAX_CONTROL_FRAME_BYTES) return { ok: false, reason: `oversize: ${bytes.byteLength} bytes > ${MAX_CONTROL_FRAME_BYTES}` }
  return decodeJsonFrame(bytes, schema)
}
