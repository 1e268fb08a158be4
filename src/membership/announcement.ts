import { z } from 'zod'
import { peerIdFromString } from '@libp2p/peer-id'
import { MAX_ANNOUNCED_FILES, MAX_ANNOUNCEMENT_BYTES, MAX_VIEW_FRAME_BYTES } from '../mesh/constants.js'
import { SHORT_DIGEST_HEX } from '../util/short-digest.js'
import type { PrivateKey } from '@libp2p/interface'
import type { Announcement, MemberState } from './types.js'
import type { Decoded } from '../util/json-frame.js'

/** Result of validating bytes from the network: a discriminated union, never a throw. */
/** One result shape for every decoder of network bytes (util/json-frame.ts). */
export type { Decoded } from '../util/json-frame.js'

const count = z.number().int().min(0).max(1_000_000)

/**
 * Names, models and versions end up in log lines, the status table and the dashboard: control
 * characters (a newline forging a log line, terminal escapes) have no business in them.
 */
const printable = (min: number, max: number): z.ZodString =>
  z.string().min(min).max(max).regex(/^[^\u0000-\u001f\u007f-\u009f]*$/, 'contains control characters')

const shortDigest = z.string().regex(new RegExp(`^[0-9a-f]{${SHORT_DIGEST_HEX}}$`), `expected ${SHORT_DIGEST_HEX} hex digits`)

export const AnnouncementSchema = z.object({
  peer_id: z.string().min(1).max(128),
  name: printable(1, 128),
  // int() also bounds both to safe integers, so comparisons in the view stay exact.
  incarnation: z.number().int().min(0),
  seq: z.number().int().min(0),
  state: z.enum(['alive', 'leaving']),
  models: z.array(printable(1, 256)).max(64),
  digests: z.record(printable(1, 256), shortDigest)
    .refine(d => Object.keys(d).length <= 64, 'more than 64 digests').optional(),
  files: z.array(shortDigest).max(MAX_ANNOUNCED_FILES).optional(),
  unserved: z.strictObject({ models: z.array(printable(1, 256)).max(64), reason: printable(1, 256) }).optional(),
  wanted_name: printable(1, 128).optional(),
  tier: z.union([z.literal(0), z.literal(1), z.literal(2)]),
  enabled: z.boolean(),
  // capacity 0 is a routing-only peer (no backend), not an error.
  load: z.object({ active: count, queued: count, capacity: count }),
  api_port: z.number().int().min(0).max(65535),
  addrs: z.array(printable(1, 256)).max(16),
  version: printable(0, 64),
  sig: z.string().max(256).optional()
})

const ViewEntrySchema = z.object({
  announcement: AnnouncementSchema,
  state: z.enum(['alive', 'suspect', 'dead', 'left'])
})

const ViewFrameSchema = z.object({ entries: z.array(z.unknown()).max(4096) })

export interface ViewEntry {
  announcement: Announcement
  state: MemberState
}

const encoder = new TextEncoder()
const decoder = new TextDecoder('utf-8', { fatal: true })

export function encodeAnnouncement (ann: Announcement): Uint8Array {
  const bytes = encoder.encode(JSON.stringify(ann))
  if (bytes.byteLength > MAX_ANNOUNCEMENT_BYTES) {
    // Our own announcement would be rejected by every peer: fail loudly here instead.
    throw new RangeError(`announcement is ${bytes.byteLength} bytes, over the ${MAX_ANNOUNCEMENT_BYTES}-byte limit (too many models or addresses?)`)
  }
  const valid = validateAnnouncement(ann)
  if (!valid.ok) throw new RangeError(`announcement would be rejected by every peer: ${valid.reason}`)
  return bytes
}

/**
 * Validates a gossiped announcement. `signer` is the gossipsub message's verified author:
 * a payload that claims another peer id is a spoof and is rejected.
 */
export function decodeAnnouncement (bytes: Uint8Array, signer?: string): Decoded<Announcement> {
  if (bytes.byteLength > MAX_ANNOUNCEMENT_BYTES) {
    return { ok: false, reason: `oversize: ${bytes.byteLength} bytes > ${MAX_ANNOUNCEMENT_BYTES}` }
  }
  const parsed = parseJson(bytes)
  if (!parsed.ok) return parsed
  const ann = validateAnnouncement(parsed.value)
  if (!ann.ok) return ann
  if (signer != null && ann.value.peer_id !== signer) {
    return { ok: false, reason: `spoofed: claims peer ${ann.value.peer_id} but signed by ${signer}` }
  }
  return ann
}

function validateAnnouncement (value: unknown): Decoded<Announcement> {
  const result = AnnouncementSchema.safeParse(value)
  if (!result.success) return { ok: false, reason: `malformed: ${describeIssue(result.error)}` }
  if (!isPeerId(result.data.peer_id)) return { ok: false, reason: 'malformed: peer_id is not a peer id' }
  return { ok: true, value: result.data }
}

export function encodeView (entries: ViewEntry[]): Uint8Array {
  return encoder.encode(JSON.stringify({ entries }))
}

/**
 * Validates a full view received on `/harombe/view/1.0.0`. Bad entries are skipped (and
 * counted), so one malformed member cannot keep a joiner from learning the rest.
 */
export function decodeView (bytes: Uint8Array): Decoded<{ entries: ViewEntry[], skipped: string[] }> {
  if (bytes.byteLength > MAX_VIEW_FRAME_BYTES) {
    return { ok: false, reason: `oversize: ${bytes.byteLength} bytes > ${MAX_VIEW_FRAME_BYTES}` }
  }
  const parsed = parseJson(bytes)
  if (!parsed.ok) return parsed
  const frame = ViewFrameSchema.safeParse(parsed.value)
  if (!frame.success) return { ok: false, reason: `malformed: ${describeIssue(frame.error)}` }
  const entries: ViewEntry[] = []
  const skipped: string[] = []
  for (const raw of frame.data.entries) {
    const entry = ViewEntrySchema.safeParse(raw)
    if (!entry.success) {
      skipped.push(describeIssue(entry.error))
    } else if (!isPeerId(entry.data.announcement.peer_id)) {
      skipped.push('peer_id is not a peer id')
    } else if (isOversize(entry.data.announcement)) {
      // The same bound as gossip: what no validator would accept first-hand is not relayed second-hand.
      skipped.push(`announcement over ${MAX_ANNOUNCEMENT_BYTES} bytes`)
    } else {
      entries.push(entry.data)
    }
  }
  return { ok: true, value: { entries, skipped } }
}

/** Over the size every peer accepts first-hand: not relayed second-hand either. */
export function isOversize (ann: Announcement): boolean {
  return encoder.encode(JSON.stringify(ann)).byteLength > MAX_ANNOUNCEMENT_BYTES
}

function parseJson (bytes: Uint8Array): Decoded<unknown> {
  try {
    return { ok: true, value: JSON.parse(decoder.decode(bytes)) }
  } catch (err: any) {
    return { ok: false, reason: `malformed: not UTF-8 JSON (${err?.message ?? err})` }
  }
}

/**
 * Ids that parsed before. Parsing one costs ~50 µs (base58 and key decoding) and every membership
 * message re-validates the same few ids. Only valid ids are kept, so junk cannot fill it.
 */
const knownPeerIds = new Set<string>()
const MAX_KNOWN_PEER_IDS = 4096

export function isPeerId (value: string): boolean {
  if (knownPeerIds.has(value)) return true
  try {
    // Only the canonical spelling: the fuzz suite found an id with a non-ASCII character that
    // parsed to another peer's id (so a second trip through the codec changed it).
    if (peerIdFromString(value).toString() !== value) return false
  } catch {
    return false
  }
  if (knownPeerIds.size >= MAX_KNOWN_PEER_IDS) knownPeerIds.clear()
  knownPeerIds.add(value)
  return true
}

/** Ids `isPeerId` remembers now, and at most: process-wide, so not in a peer's BoundedRegistry; for its bound test. */
export function knownPeerIdCache (): { size: number, limit: number } {
  return { size: knownPeerIds.size, limit: MAX_KNOWN_PEER_IDS }
}

function describeIssue (error: z.ZodError): string {
  const issue = error.issues[0]
  if (issue == null) return 'invalid'
  const path = issue.path.length > 0 ? issue.path.join('.') : '(root)'
  return `${path}: ${issue.message}`
}

/** The signed bytes: every field but `sig`, in a fixed order, so both sides agree on them. */
export function announcementSigningBytes (ann: Announcement): Uint8Array {
  return encoder.encode(JSON.stringify([
    'harombe/announcement/1', ann.peer_id, ann.name, ann.incarnation, ann.seq, ann.state, ann.models, ann.tier,
    ann.enabled, [ann.load.active, ann.load.queued, ann.load.capacity], ann.api_port, ann.addrs, ann.version,
    // Only when present, so announcements without digests keep the bytes older peers sign
    ...(ann.digests != null ? [Object.entries(ann.digests).sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0)] : []),
    // Tagged, so a files list can never be read as a digests list (both are optional)
    ...(ann.files != null ? [['files', ...ann.files]] : []),
    ...(ann.unserved != null ? [['unserved', ann.unserved.reason, ...ann.unserved.models]] : []),
    ...(ann.wanted_name != null ? [['wanted_name', ann.wanted_name]] : [])
  ]))
}

export async function signAnnouncement (ann: Announcement, key: PrivateKey): Promise<Announcement> {
  const { sig: _old, ...unsigned } = ann
  const sig = await key.sign(announcementSigningBytes(unsigned))
  return { ...unsigned, sig: Buffer.from(sig).toString('base64') }
}

/** True when `sig` is the announced peer's own signature over the announcement. */
export async function verifyAnnouncement (ann: Announcement): Promise<boolean> {
  if (ann.sig == null) return false
  try {
    const key = peerIdFromString(ann.peer_id).publicKey
    if (key == null) return false
    return await key.verify(announcementSigningBytes(ann), Buffer.from(ann.sig, 'base64'))
  } catch {
    return false
  }
}
