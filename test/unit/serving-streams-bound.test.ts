import assert from 'node:assert/strict'
import * as lp from 'it-length-prefixed'
import { pushable, type Pushable } from 'it-pushable'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { MeshNode } from '../../src/mesh/node.js'
import type { CompletionResult } from '../../src/completion/types.js'
import { encodeRequestFrame, registerCompletionHandler } from '../../src/protocol/index.js'
import { registerEmbedHandler } from '../../src/embeddings/handler.js'
import { encodeEmbedRequest } from '../../src/embeddings/frames.js'
import type { EmbeddingResult } from '../../src/embeddings/types.js'

// protocol.serving-streams (and embeddings.serving-streams, the same shape) is bounded by construction: libp2p refuses a completion stream past
// maxInboundStreams on a connection (test/integration/complete-protocol.test.ts, "should apply
// maxInboundStreams"), and connections are capped at MAX_CONNECTIONS. What this peer's code owns
// is the handler's count: the limit it hands libp2p, one entry per open stream at most, and
// none left once the streams end (a count that leaked would outgrow any bound).

interface FakeStream { source: Pushable<Uint8Array>, sink: (src: AsyncIterable<Uint8Array | { subarray: () => Uint8Array }>) => Promise<void>, close: () => Promise<void>, abort: () => void }

function fakeStream (): FakeStream {
  const source = pushable<Uint8Array>()
  return {
    source,
    sink: async src => { for await (const _ of src) { /* answers are not read here */ } },
    close: async () => { source.end() },
    abort: () => { source.end() }
  }
}

async function until (check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5_000
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 5))
  }
}

/** A node that only records the stream handler and the options it was registered with. */
function recordingNode (): { node: MeshNode, onStream: (data: unknown) => void, options: () => { maxInboundStreams?: number } | undefined } {
  let handler: ((data: unknown) => void) | undefined
  let options: { maxInboundStreams?: number } | undefined
  const node = {
    handle: async (_protocol: string, h: (data: unknown) => void, opts: { maxInboundStreams?: number }) => { handler = h; options = opts },
    unhandle: async () => {}
  } as unknown as MeshNode
  return { node, onStream: data => { handler?.(data) }, options: () => options }
}

/** A promise the requests wait on until `release`. */
function gated (): { gate: Promise<void>, release: () => void } {
  let release!: () => void
  const gate = new Promise<void>(resolve => { release = resolve })
  return { gate, release }
}

describe('protocol.serving-streams: bounded by the open streams (maxInboundStreams per connection)', () => {
  it('should hand libp2p its limit, count each open stream once, and drop to 0 when they end', async () => {
    const { node, onStream, options } = recordingNode()
    const { gate, release } = gated()
    const result: CompletionResult = { message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop', model: 'tiny', usage: { prompt_tokens: 1, completion_tokens: 1 } }
    const limit = 8
    const handler = await registerCompletionHandler(node, async () => { await gate; return result }, { maxInboundStreams: limit })
    assert.equal(options()?.maxInboundStreams, limit, 'the per-connection bound libp2p enforces')
    const remotePeer = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
    const streams = Array.from({ length: limit }, () => fakeStream())
    for (const [i, stream] of streams.entries()) {
      onStream({ stream, connection: { remotePeer } })
      stream.source.push(lp.encode.single(encodeRequestFrame({ id: `r${i}`, request: { messages: [{ role: 'user', content: 'hi' }] } })).subarray())
    }
    await until(() => handler.active === limit, 'every request to start')
    assert.equal(handler.streams, limit, 'one per stream serving a request')
    release()
    // Answered: each stream now waits for its next request, still counted once (idle).
    await until(() => handler.active === 0, 'every request to end')
    assert.equal(handler.streams, limit, 'one per stream idle between requests')
    for (const stream of streams) stream.source.end()
    await until(() => handler.streams === 0, 'the streams to be forgotten')
    await handler.unregister()
  })
})

describe('embeddings.serving-streams: bounded by the open streams (MAX_EMBED_STREAMS per connection)', () => {
  it('should hand libp2p its limit, count each open stream once, and drop to 0 when they end', async () => {
    const { node, onStream, options } = recordingNode()
    const { gate, release } = gated()
    let running = 0
    const result: EmbeddingResult = { model: 'tiny', embeddings: [new Float32Array([1, 0])], prompt_tokens: 1 }
    const limit = 8
    const handler = await registerEmbedHandler(node, async () => { running++; await gate; running--; return result }, { maxInboundStreams: limit })
    assert.equal(options()?.maxInboundStreams, limit, 'the per-connection bound libp2p enforces')
    const remotePeer = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
    const streams = Array.from({ length: limit }, () => fakeStream())
    for (const [i, stream] of streams.entries()) {
      onStream({ stream, connection: { remotePeer } })
      stream.source.push(lp.encode.single(encodeEmbedRequest({ id: `e${i}`, request: { model: 'tiny', input: ['hi'] } })).subarray())
    }
    await until(() => running === limit, 'every embedding to start')
    assert.equal(handler.streams, limit, 'one per stream serving a request')
    release()
    await until(() => running === 0, 'every embedding to end')
    await until(() => handler.streams === limit, 'the streams to wait for their next request')
    for (const stream of streams) stream.source.end()
    await until(() => handler.streams === 0, 'the streams to be forgotten')
    await handler.unregister()
  })
})
