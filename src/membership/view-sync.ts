import * as lp from 'it-length-prefixed'
import type { Stream } from '@libp2p/interface'
import { MAX_VIEW_FRAME_BYTES, VIEW_PROTOCOL, VIEW_EXCHANGE_TIMEOUT_MS } from '../mesh/constants.js'
import type { MeshNode } from '../mesh/node.js'
import { decodeView, encodeView, type Decoded, type ViewEntry } from './announcement.js'
import type { PeerId } from '@libp2p/interface'

/**
 * `/harombe/view/1.0.0`: on a new connection each side opens one stream and writes its
 * full view as a single length-prefixed frame; the other side reads it and closes.
 * Both sides do it, so a joiner converges in one round trip without waiting for gossip.
 */
export async function sendView (node: MeshNode, peer: PeerId, entries: ViewEntry[], signal?: AbortSignal): Promise<void> {
  signal ??= AbortSignal.timeout(VIEW_EXCHANGE_TIMEOUT_MS)
  const stream = await node.dialProtocol(peer, VIEW_PROTOCOL, { signal })
  try {
    await stream.sink([lp.encode.single(encodeView(entries))])
  } catch (err) {
    stream.abort(err as Error)
    throw err
  }
}

/** Reads the one frame a peer sends on the view protocol. */
export async function readView (stream: Stream, signal: AbortSignal): Promise<Decoded<{ entries: ViewEntry[], skipped: string[] }>> {
  const onAbort = (): void => { stream.abort(new Error('view exchange timed out')) }
  signal.addEventListener('abort', onAbort, { once: true })
  try {
    for await (const frame of lp.decode(stream.source, { maxDataLength: MAX_VIEW_FRAME_BYTES })) {
      return decodeView(frame.subarray())
    }
    return { ok: false, reason: 'stream ended before the view frame' }
  } catch (err: any) {
    return { ok: false, reason: err?.message ?? String(err) }
  } finally {
    signal.removeEventListener('abort', onAbort)
    await stream.close().catch(() => { stream.abort(new Error('close failed')) })
  }
}
