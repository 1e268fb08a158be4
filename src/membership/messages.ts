import { z } from 'zod'
import { AnnouncementSchema, isOversize, isPeerId, type Decoded, type ViewEntry } from './announcement.js'
import { MAX_ANNOUNCEMENT_BYTES } from '../mesh/constants.js'
import type { Announcement, MemberState } from './types.js'

/**
 * The SWIM vocabulary (`/harombe/swim/1.0.0`), shared by the libp2p transport and the simulator.
 *
 * Updates are what is disseminated, and only on change: a peer's own signed announcement (join,
 * change, refutation, leave) and third-party verdicts about a peer (suspect, dead), each naming the
 * version of the peer it is about, so a newer announcement refutes it (SWIM's incarnation rule).
 */
export type Update =
  | { type: 'alive', announcement: Announcement }
  | { type: 'suspect', peer_id: string, incarnation: number, seq: number, from: string }
  | { type: 'dead', peer_id: string, incarnation: number, seq: number, from: string, reason: string }

/** What the sender holds about the receiver: lets a suspected or dead peer refute at once. */
export interface Seen {
  incarnation: number
  seq: number
  state: MemberState
}

export type SwimRequest =
  /** Direct probe. */
  | { type: 'ping', seen?: Seen, updates: Update[] }
  /** Indirect probe: "ping `target` for me". */
  | { type: 'ping-req', target: string, updates: Update[] }
  /** Dissemination only; answered with an empty ack. */
  | { type: 'gossip', updates: Update[] }

export type SwimReply =
  /**
   * `self`: the responder's announcement, when the prober's `seen` was older (fresh load rides here).
   * `held_us`: microseconds from the request read to this reply written, set by the transport
   * that answered, so the prober can take the answering time out of its round trip.
   */
  | { type: 'ack', seen?: Seen, self?: Announcement, updates: Update[], held_us?: number }
  /** Indirect probe: the intermediary is alive but the target did not answer (Lifeguard's nack). */
  | { type: 'nack', updates: Update[] }

export type SwimMessage = SwimRequest | SwimReply

/** The push-pull anti-entropy frame: a full view. */
export interface ViewFrame {
  entries: ViewEntry[]
}

/** Updates carried by one message; a full view travels by push-pull, not piggybacked. */
export const MAX_UPDATES_PER_MESSAGE = 64

const count = z.number().int().min(0)
const peerId = z.string().min(1).max(128)
const reason = z.string().max(256).regex(/^[^\u0000-\u001f\u007f-\u009f]*$/, 'contains control characters')

const UpdateSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('alive'), announcement: AnnouncementSchema }),
  z.object({ type: z.literal('suspect'), peer_id: peerId, incarnation: count, seq: count, from: peerId }),
  z.object({ type: z.literal('dead'), peer_id: peerId, incarnation: count, seq: count, from: peerId, reason })
])

const SeenSchema = z.object({ incarnation: count, seq: count, state: z.enum(['alive', 'suspect', 'dead', 'left']) })
const updates = z.array(z.unknown()).max(MAX_UPDATES_PER_MESSAGE)
/** A minute: anything held longer was timed out by its prober long ago. */
export const MAX_HELD_US = 60_000_000

const MessageSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('ping'), seen: SeenSchema.optional(), updates }),
  z.object({ type: z.literal('ping-req'), target: peerId, updates }),
  z.object({ type: z.literal('gossip'), updates }),
  z.object({ type: z.literal('ack'), seen: SeenSchema.optional(), self: AnnouncementSchema.optional(), updates, held_us: count.max(MAX_HELD_US).optional() }),
  z.object({ type: z.literal('nack'), updates })
])

/** A decoded message; malformed updates inside an otherwise good message are skipped and counted. */
export interface DecodedMessage {
  message: SwimMessage
  skipped: string[]
}

const encoder = new TextEncoder()
const decoder = new TextDecoder('utf-8', { fatal: true })

export function encodeMessage (message: SwimMessage): Uint8Array {
  return encoder.encode(JSON.stringify(message))
}

/** Validates a frame from the network: never throws, one bad update never spoils the rest. */
export function decodeMessage (bytes: Uint8Array, maxBytes: number): Decoded<DecodedMessage> {
  if (bytes.byteLength > maxBytes) return { ok: false, reason: `oversize: ${bytes.byteLength} bytes > ${maxBytes}` }
  let value: unknown
  try {
    value = JSON.parse(decoder.decode(bytes))
  } catch (err: any) {
    return { ok: false, reason: `malformed: not UTF-8 JSON (${err?.message ?? err})` }
  }
  const parsed = MessageSchema.safeParse(value)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    return { ok: false, reason: `malformed: ${issue == null ? 'invalid' : `${issue.path.join('.') || '(root)'}: ${issue.message}`}` }
  }
  const skipped: string[] = []
  const good: Update[] = []
  for (const raw of parsed.data.updates) {
    const update = UpdateSchema.safeParse(raw)
    if (!update.success) {
      skipped.push(update.error.issues[0]?.message ?? 'invalid update')
      continue
    }
    const subject = update.data.type === 'alive' ? update.data.announcement.peer_id : update.data.peer_id
    if (!isPeerId(subject)) {
      skipped.push('peer_id is not a peer id')
      continue
    }
    if (update.data.type === 'alive' && isOversize(update.data.announcement)) {
      skipped.push(`announcement over ${MAX_ANNOUNCEMENT_BYTES} bytes`)
      continue
    }
    good.push(update.data)
  }
  const message = { ...parsed.data, updates: good } as SwimMessage
  if ('target' in message && !isPeerId(message.target)) return { ok: false, reason: 'malformed: target is not a peer id' }
  if ('self' in message && message.self != null && (!isPeerId(message.self.peer_id) || isOversize(message.self))) return { ok: false, reason: 'malformed: self is not a valid announcement' }
  return { ok: true, value: { message, skipped } }
}

/** The peer an update is about. */
export function subjectOf (update: Update): string {
  return update.type === 'alive' ? update.announcement.peer_id : update.peer_id
}
