import { encodeFrames, FrameQueue, readFrames } from '../mesh/framing.js'
import type { Stream } from '@libp2p/interface'
import type { Logger } from '../log.js'
import { decodeMessage, encodeMessage, MAX_HELD_US, type SwimMessage, type SwimReply, type SwimRequest } from './messages.js'

/**
 * One long-lived stream per peer for SWIM traffic (`/harombe/swim/1.0.0`): a stream per probe cost
 * ~1–2 ms of CPU on each side (stream setup, protocol negotiation, close), most of an idle mesh's
 * upkeep. Frames are `[u32 id][JSON message]`, length-prefixed; the side that opened the stream
 * sends requests on it and the other answers each with the same id, so several may be in flight.
 */

/** Requests awaiting their reply on a channel we opened. */
export interface Channel {
  readonly open: boolean
  /** `onRoundTrip`: this request's round trip less the answerer's `held_us` (see MembershipTransport). */
  request: (message: SwimRequest, signal: AbortSignal, onRoundTrip?: (ms: number) => void) => Promise<SwimReply>
  close: () => void
}

export function frame (id: number, message: SwimMessage): Uint8Array {
  const body = encodeMessage(message)
  const out = new Uint8Array(4 + body.byteLength)
  new DataView(out.buffer).setUint32(0, id)
  out.set(body, 4)
  return out
}

export function unframe (bytes: Uint8Array, maxBytes: number): { id: number, decoded: ReturnType<typeof decodeMessage> } | undefined {
  if (bytes.byteLength < 4) return undefined
  const id = new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0)
  return { id, decoded: decodeMessage(bytes.subarray(4), maxBytes) }
}

/** A round trip less the time the answerer says it held the request (never below zero). */
export function roundTripMs (sentAt: number, arrivedAt: number, reply: SwimReply): number {
  const heldMs = reply.type === 'ack' && reply.held_us != null ? reply.held_us / 1000 : 0
  return Math.max(0, arrivedAt - sentAt - heldMs)
}

/**
 * The caller's side of a channel: writes requests, matches replies by id. `onClosed` runs once when
 * the channel stops (the stream ended or failed, or `close`), so its owner can drop it.
 */
export function openChannel (stream: Stream, maxBytes: number, onBad: (reason: string) => void, onClosed?: () => void): Channel {
  const outgoing = new FrameQueue()
  const waiting = new Map<number, { resolve: (reply: SwimReply, arrivedAt: number) => void, reject: (err: Error) => void }>()
  let nextId = 1
  let open = true

  const fail = (err: Error): void => {
    if (!open) return
    open = false
    outgoing.end()
    for (const w of waiting.values()) w.reject(err)
    waiting.clear()
    onClosed?.()
  }

  stream.sink(outgoing).catch((err: Error) => { fail(err) })
  void (async () => {
    for await (const chunk of readFrames(stream.source, maxBytes + 4)) {
      // Before decoding: parsing the reply is our cost, not the network's.
      const arrivedAt = performance.now()
      const got = unframe(chunk, maxBytes)
      if (got == null) { onBad('malformed: frame shorter than its id'); continue }
      if (!got.decoded.ok) { onBad(got.decoded.reason); continue }
      const reply = got.decoded.value.message
      const w = waiting.get(got.id)
      if (w == null) continue // answered after its caller gave up
      waiting.delete(got.id)
      if (reply.type !== 'ack' && reply.type !== 'nack') {
        onBad(`malformed: a ${reply.type} is not a reply`)
        w.reject(new Error('bad reply'))
        continue
      }
      w.resolve(reply, arrivedAt)
    }
    fail(new Error('membership stream closed'))
  })().catch((err: Error) => { fail(err) })

  return {
    get open () { return open && stream.status === 'open' },
    async request (message, signal, onRoundTrip) {
      if (!open) throw new Error('membership stream closed')
      const id = nextId
      nextId = nextId >= 0xffffffff ? 1 : nextId + 1
      return await new Promise<SwimReply>((resolve, reject) => {
        const onAbort = (): void => {
          waiting.delete(id)
          reject(signal.reason ?? new Error('aborted'))
        }
        if (signal.aborted) { onAbort(); return }
        signal.addEventListener('abort', onAbort, { once: true })
        const bytes = frame(id, message)
        // After encoding: building and stringifying the request is our cost, not the network's.
        const sentAt = performance.now()
        waiting.set(id, {
          resolve: (reply, arrivedAt) => {
            signal.removeEventListener('abort', onAbort)
            if (onRoundTrip != null) onRoundTrip(roundTripMs(sentAt, arrivedAt, reply))
            resolve(reply)
          },
          reject: err => { signal.removeEventListener('abort', onAbort); reject(err) }
        })
        outgoing.push(encodeFrames(bytes))
      })
    },
    close () {
      fail(new Error('membership stream closed'))
      stream.close().catch(() => { stream.abort(new Error('close failed')) })
    }
  }
}

/**
 * The answering side: reads requests until the stream ends and writes each reply with its id.
 * A malformed frame is dropped and reported; the stream keeps serving.
 */
export async function serveChannel (
  stream: Stream,
  maxBytes: number,
  answer: (message: SwimRequest) => Promise<SwimReply>,
  onBad: (reason: string) => void,
  log: Logger
): Promise<void> {
  const outgoing = new FrameQueue()
  const writing = stream.sink(outgoing)
  try {
    for await (const chunk of readFrames(stream.source, maxBytes + 4)) {
      const readAt = performance.now()
      const got = unframe(chunk, maxBytes)
      if (got == null) { onBad('malformed: frame shorter than its id'); continue }
      if (!got.decoded.ok) { onBad(got.decoded.reason); continue }
      if (got.decoded.value.skipped.length > 0) onBad(`malformed: ${got.decoded.value.skipped.length} update(s) skipped (${got.decoded.value.skipped[0] ?? ''})`)
      const message = got.decoded.value.message
      if (message.type === 'ack' || message.type === 'nack') {
        onBad(`malformed: a ${message.type} is not a request`)
        continue
      }
      const id = got.id
      // Answered concurrently: a relayed probe waits on a third peer, the next ping must not.
      answer(message).then(reply => {
        // The time we held it, so the prober's round trip is the network's (and both stacks').
        const sent = reply.type === 'ack' ? { ...reply, held_us: Math.min(MAX_HELD_US, Math.round((performance.now() - readAt) * 1000)) } : reply
        outgoing.push(encodeFrames(frame(id, sent)))
      }, (err: any) => {
        log.debug(`membership request not answered: ${err?.message ?? err}`)
      })
    }
  } finally {
    outgoing.end()
    await writing.catch(() => {})
  }
}
