import * as lp from 'it-length-prefixed'
import { pushable, type Pushable } from 'it-pushable'
import type { Stream } from '@libp2p/interface'
import type { Logger } from '../log.js'
import { decodeMessage, encodeMessage, type SwimMessage, type SwimReply, type SwimRequest } from './messages.js'

/**
 * One long-lived stream per peer for SWIM traffic (`/harombe/swim/1.0.0`): a stream per probe cost
 * ~1–2 ms of CPU on each side (stream setup, protocol negotiation, close), most of an idle mesh's
 * upkeep. Frames are `[u32 id][JSON message]`, length-prefixed; the side that opened the stream
 * sends requests on it and the other answers each with the same id, so several may be in flight.
 */

/** Requests awaiting their reply on a channel we opened. */
export interface Channel {
  readonly open: boolean
  request: (message: SwimRequest, signal: AbortSignal) => Promise<SwimReply>
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

/** The caller's side of a channel: writes requests, matches replies by id. */
export function openChannel (stream: Stream, maxBytes: number, onBad: (reason: string) => void): Channel {
  const outgoing: Pushable<Uint8Array> = pushable()
  const waiting = new Map<number, { resolve: (reply: SwimReply) => void, reject: (err: Error) => void }>()
  let nextId = 1
  let open = true

  const fail = (err: Error): void => {
    if (!open) return
    open = false
    outgoing.end()
    for (const w of waiting.values()) w.reject(err)
    waiting.clear()
  }

  stream.sink((async function * () { for await (const bytes of outgoing) yield lp.encode.single(bytes) })()).catch((err: Error) => { fail(err) })
  void (async () => {
    for await (const chunk of lp.decode(stream.source, { maxDataLength: maxBytes + 4 })) {
      const got = unframe(chunk.subarray(), maxBytes)
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
      w.resolve(reply)
    }
    fail(new Error('membership stream closed'))
  })().catch((err: Error) => { fail(err) })

  return {
    get open () { return open && stream.status === 'open' },
    async request (message, signal) {
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
        waiting.set(id, {
          resolve: reply => { signal.removeEventListener('abort', onAbort); resolve(reply) },
          reject: err => { signal.removeEventListener('abort', onAbort); reject(err) }
        })
        outgoing.push(frame(id, message))
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
  const outgoing: Pushable<Uint8Array> = pushable()
  const writing = stream.sink((async function * () { for await (const bytes of outgoing) yield lp.encode.single(bytes) })())
  try {
    for await (const chunk of lp.decode(stream.source, { maxDataLength: maxBytes + 4 })) {
      const got = unframe(chunk.subarray(), maxBytes)
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
      answer(message).then(reply => { outgoing.push(frame(id, reply)) }, (err: any) => {
        log.debug(`membership request not answered: ${err?.message ?? err}`)
      })
    }
  } finally {
    outgoing.end()
    await writing.catch(() => {})
  }
}
