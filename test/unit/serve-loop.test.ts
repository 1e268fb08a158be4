import assert from 'node:assert/strict'
import { pushable, type Pushable } from 'it-pushable'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { MeshNode } from '../../src/mesh/node.js'
import { AbortedError, BadRequestError, UnavailableError, type CompletionError } from '../../src/completion/errors.js'
import { encodeFrames, readFrames } from '../../src/mesh/framing.js'
import { silentLogger } from '../../src/log.js'
import { registerRequestServer, type RequestServer, type ServeCall, type Served } from '../../src/protocol/serve-loop.js'
import { pollUntil } from '../helpers/wait.js'

// The loop both serving protocols share (completions, embeddings), driven by a toy protocol on
// fake streams: a request is a text frame, its answer the text in capitals. 'wait' runs until
// released or aborted; a frame starting with '!' is malformed.

const text = (bytes: Uint8Array): string => new TextDecoder().decode(bytes)
const frame = (s: string): Uint8Array => encodeFrames(new TextEncoder().encode(s))

interface FakeStream {
  /** What the caller writes. */
  toServer: Pushable<Uint8Array>
  /** The frames the server wrote, in order. */
  replies: AsyncGenerator<Uint8Array, void, undefined>
  closed: boolean
  resetWith: Error | undefined
  stream: unknown
}

function fakeStream (): FakeStream {
  const toServer = pushable<Uint8Array>()
  const toCaller = pushable<Uint8Array>()
  const fake: FakeStream = {
    toServer,
    replies: readFrames(toCaller, 1 << 20),
    closed: false,
    resetWith: undefined,
    stream: undefined
  }
  fake.stream = {
    source: toServer,
    sink: async (source: AsyncIterable<Uint8Array>) => {
      for await (const chunk of source) toCaller.push(chunk)
      toCaller.end()
    },
    close: async () => { fake.closed = true; toServer.end() },
    abort: (err: Error) => { fake.resetWith = err; toServer.end(); toCaller.end() }
  }
  return fake
}

interface Toy {
  server: RequestServer
  open: () => FakeStream
  /** The signals of the requests served, in order. */
  signals: AbortSignal[]
  /** Releases every 'wait' request running. */
  release: () => void
}

async function startToy (options: { requestTimeoutMs?: number, idleTimeoutMs?: number, unhandled?: Promise<void> } = {}): Promise<Toy> {
  let onStream: ((data: unknown) => void) | undefined
  const node = {
    handle: async (_protocol: string, handler: (data: unknown) => void) => { onStream = handler },
    unhandle: async () => { await options.unhandled }
  } as unknown as MeshNode
  const remotePeer = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
  const signals: AbortSignal[] = []
  let releases: Array<() => void> = []
  const serve = async (request: string, call: ServeCall): Promise<Served> => {
    signals.push(call.signal)
    if (request === 'wait') {
      await new Promise<void>(resolve => {
        releases.push(resolve)
        call.signal.addEventListener('abort', () => { resolve() })
      })
    }
    if (!call.finish()) return { kind: 'reset', reason: new AbortedError('caller gone') }
    if (call.signal.aborted) return { kind: 'answered', frames: frame(`error:${(call.signal.reason as CompletionError).code}`) }
    return { kind: 'answered', frames: frame(request.toUpperCase()) }
  }
  const server = await registerRequestServer<string>(node, {
    protocol: '/toy/1.0.0',
    label: 'toy',
    maxInboundStreams: 4,
    maxOutboundStreams: 4,
    maxRequestFrameBytes: 1024,
    requestTimeoutMs: options.requestTimeoutMs ?? 5_000,
    idleTimeoutMs: options.idleTimeoutMs ?? 60_000,
    shutdownError: () => new UnavailableError('toy shutting down'),
    decode: bytes => text(bytes).startsWith('!') ? { ok: false, reason: 'bang' } : { ok: true, value: text(bytes) },
    unreadable: () => new BadRequestError('unreadable'),
    malformed: reason => new BadRequestError(`malformed: ${reason}`),
    encodeError: err => frame(`error:${err.code}:${err.message}`),
    serve,
    log: silentLogger()
  })
  return {
    server,
    open: () => {
      const fake = fakeStream()
      onStream?.({ stream: fake.stream, connection: { remotePeer } })
      return fake
    },
    signals,
    release: () => { for (const r of releases) r(); releases = [] }
  }
}

/** A stream whose request ('wait') is running. */
async function openWaiting (toy: Toy): Promise<FakeStream> {
  const fake = toy.open()
  fake.toServer.push(frame('wait'))
  await pollUntil(() => toy.server.active === 1, 2_000, 'the request to start')
  return fake
}

async function nextReply (fake: FakeStream): Promise<string | undefined> {
  const next = await fake.replies.next()
  return next.done === true ? undefined : text(next.value)
}

describe('serve loop (requests one after another on a pooled stream)', () => {
  it('should serve requests one after another on one stream, then close it when the caller closes', async () => {
    const toy = await startToy()
    const fake = toy.open()
    fake.toServer.push(frame('one'))
    assert.equal(await nextReply(fake), 'ONE')
    assert.equal(toy.server.streams, 1, 'the stream waits for its next request')
    fake.toServer.push(frame('two'))
    assert.equal(await nextReply(fake), 'TWO')
    fake.toServer.end()
    assert.equal(await nextReply(fake), undefined, 'the server ends its side')
    await pollUntil(() => fake.closed, 2_000, 'the stream to be closed')
    assert.equal(fake.resetWith, undefined, 'closed, not reset')
    assert.equal(toy.server.streams, 0)
  })

  it('should abort a running request when the caller closes its side, and reset the stream', async () => {
    const toy = await startToy()
    const fake = await openWaiting(toy)
    fake.toServer.end()
    await pollUntil(() => fake.resetWith != null, 2_000, 'the stream to be reset')
    const signal = toy.signals[0]
    assert.ok(signal?.aborted === true)
    assert.ok(signal.reason instanceof AbortedError)
    assert.match(signal.reason.message, /the caller closed the stream/)
    assert.equal(toy.server.streams, 0)
  })

  it('should answer a malformed frame with the protocol\'s error frame and close the stream', async () => {
    const toy = await startToy()
    const fake = toy.open()
    fake.toServer.push(frame('!nope'))
    assert.equal(await nextReply(fake), 'error:bad_request:malformed: bang')
    assert.equal(await nextReply(fake), undefined)
    await pollUntil(() => fake.closed, 2_000, 'the stream to be closed')
    assert.equal(toy.signals.length, 0, 'nothing was served')
  })

  it('should answer an oversize frame with the protocol\'s error frame, never reading its body', async () => {
    const toy = await startToy()
    const fake = toy.open()
    // Only the length prefix of a 2,000-byte frame (over the 1,024 limit): the body never comes.
    fake.toServer.push(Uint8Array.from([0xd0, 0x0f]))
    assert.equal(await nextReply(fake), 'error:bad_request:unreadable')
    await pollUntil(() => fake.closed, 2_000, 'the stream to be closed')
  })

  it('should reset a new stream that sends no request within the request timeout', async () => {
    const toy = await startToy({ requestTimeoutMs: 50 })
    const fake = toy.open()
    await pollUntil(() => fake.resetWith != null, 2_000, 'the silent stream to be reset')
    assert.match(fake.resetWith?.message ?? '', /no request frame within 50 ms/)
    assert.equal(toy.server.streams, 0)
  })

  it('should close a stream idle between requests after the idle timeout', async () => {
    const toy = await startToy({ idleTimeoutMs: 50 })
    const fake = toy.open()
    fake.toServer.push(frame('one'))
    assert.equal(await nextReply(fake), 'ONE')
    await pollUntil(() => fake.closed, 2_000, 'the idle stream to be closed')
    assert.equal(fake.resetWith, undefined)
  })

  it('should close idle streams at unregister, and a busy one right after its answer', async () => {
    const toy = await startToy()
    const idle = toy.open()
    idle.toServer.push(frame('one'))
    assert.equal(await nextReply(idle), 'ONE')
    const busy = await openWaiting(toy)
    await toy.server.unregister()
    await pollUntil(() => idle.closed, 2_000, 'the idle stream to be closed')
    assert.equal(busy.closed, false, 'the busy stream finishes its request first')
    toy.release()
    assert.equal(await nextReply(busy), 'WAIT', 'the request in flight is answered')
    // Not left to wait out the 60 s idle timeout.
    await pollUntil(() => busy.closed, 2_000, 'the busy stream to be closed after its answer')
    assert.equal(toy.server.streams, 0)
  })

  it('should abort requests in flight with the protocol\'s shutdown error at unregister({ abortInFlight })', async () => {
    const toy = await startToy()
    const fake = await openWaiting(toy)
    await toy.server.unregister({ abortInFlight: true })
    assert.equal(await nextReply(fake), 'error:unavailable', 'the serve function answered from the shutdown reason')
    assert.ok(toy.signals[0]?.reason instanceof UnavailableError)
    await pollUntil(() => fake.closed, 2_000, 'the stream to be closed')
  })

  it('should refuse, retryably, a request that arrives on an idle stream after unregister', async () => {
    // The frame wins the race against unregister closing the idle stream (held back here until
    // libp2p's unhandle returns): the loop must not serve it.
    let unhandle!: () => void
    const toy = await startToy({ unhandled: new Promise<void>(resolve => { unhandle = resolve }) })
    const fake = toy.open()
    fake.toServer.push(frame('one'))
    assert.equal(await nextReply(fake), 'ONE')
    const unregistering = toy.server.unregister()
    fake.toServer.push(frame('two'))
    assert.equal(await nextReply(fake), 'error:unavailable:the serving peer is shutting down')
    assert.equal(toy.signals.length, 1, 'the second request was not served')
    unhandle()
    await unregistering
    await pollUntil(() => fake.closed, 2_000, 'the stream to be closed')
  })
})
