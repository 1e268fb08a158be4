import assert from 'node:assert/strict'
import { performance } from 'node:perf_hooks'
import * as lp from 'it-length-prefixed'
import { pushable } from 'it-pushable'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { createMeshNode, type MeshNode } from '../../src/mesh/node.js'
import type { CompletionRequest, CompletionResult } from '../../src/completion/types.js'
import { AbortedError, BadRequestError, BusyError, InternalError, TimeoutError, UnavailableError } from '../../src/completion/errors.js'
import {
  COMPLETE_PROTOCOL,
  MAX_REQUEST_FRAME_BYTES,
  MAX_RESPONSE_FRAME_BYTES,
  afterFirstDelta,
  completeOverMesh,
  createStreamPool,
  decodeResponseFrame,
  encodeRequestFrame,
  encodeResponseFrame,
  registerCompletionHandler,
  streamPoolOf,
  type CompletionExecutor,
  type CompletionHandlerInit,
  type ResponseFrame
} from '../../src/protocol/index.js'

/** How long a caller's abort may take to stop generation on the serving peer. */
const CANCEL_BOUND_MS = 100

const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text)

function deferred<T = void> (): { promise: Promise<T>, resolve: (value: T) => void } {
  let resolve!: (value: T) => void
  const promise = new Promise<T>(res => { resolve = res })
  return { promise, resolve }
}

/** Awaits an event-backed promise, failing with `what` instead of hanging the test. */
async function within<T> (promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => { reject(new Error(`timed out after ${ms} ms waiting for ${what}`)) }, ms)
  })
  try {
    return await Promise.race([promise, timeout])
  } finally {
    clearTimeout(timer)
  }
}

/** The rejection of `promise`, failing the test if it resolves. */
async function rejectionOf (promise: Promise<unknown>): Promise<any> {
  try {
    await promise
  } catch (err) {
    return err
  }
  assert.fail('expected the completion to fail')
}

function ask (content: string, fields: Partial<CompletionRequest> = {}): CompletionRequest {
  return { messages: [{ role: 'user', content }], ...fields }
}

function answer (content: string, fields: Partial<CompletionResult> = {}): CompletionResult {
  return { message: { role: 'assistant', content }, finish_reason: 'stop', model: 'tiny', usage: { prompt_tokens: 3, completion_tokens: 2 }, ...fields }
}

/** Resolves when `signal` aborts, with the time it did. */
async function abortedAt (signal: AbortSignal): Promise<number> {
  if (signal.aborted) return performance.now()
  return await new Promise(resolve => { signal.addEventListener('abort', () => { resolve(performance.now()) }, { once: true }) })
}

/** Opens a raw completion stream, writes `chunks` (keeping the write side open) and collects the reply frames. */
async function rawExchange (node: MeshNode, server: MeshNode, chunks: Uint8Array[]): Promise<ResponseFrame[]> {
  const stream = await node.dialProtocol(server.peerId, COMPLETE_PROTOCOL, { signal: AbortSignal.timeout(5_000) })
  const outgoing = pushable<Uint8Array>()
  for (const chunk of chunks) outgoing.push(chunk)
  stream.sink(outgoing).catch(() => {})
  const frames: ResponseFrame[] = []
  try {
    for await (const chunk of lp.decode(stream.source, { maxDataLength: MAX_RESPONSE_FRAME_BYTES })) {
      const decoded = decodeResponseFrame(chunk.subarray())
      assert.ok(decoded.ok, decoded.ok ? '' : decoded.reason)
      frames.push(decoded.value)
    }
  } finally {
    outgoing.end()
    stream.abort(new Error('raw exchange done'))
  }
  return frames
}

describe('/harombe/complete/1.0.0 between two real libp2p nodes', function () {
  this.timeout(20_000)
  const nodes: MeshNode[] = []
  let server: MeshNode
  let client: MeshNode

  async function startNode (): Promise<MeshNode> {
    const node = await createMeshNode({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false })
    nodes.push(node)
    await node.start()
    return node
  }

  async function serve (execute: CompletionExecutor, init: Partial<CompletionHandlerInit> = {}): Promise<void> {
    await registerCompletionHandler(server, execute, { maxInboundStreams: 32, ...init })
  }

  beforeEach(async () => {
    server = await startNode()
    client = await startNode()
    const addr = server.getMultiaddrs()[0]
    assert.ok(addr != null, 'server listens')
    await client.dial(addr, { signal: AbortSignal.timeout(5_000) })
  })

  afterEach(async () => {
    await Promise.all(nodes.splice(0).map(async node => { await node.stop() }))
  })

  it('should deliver deltas in order and resolve with the result and who served it', async () => {
    const parts = ['Hel', 'lo', ' wor', 'ld']
    // Each part waits until the caller has received the previous one, so each is its own frame.
    const received = parts.map(() => deferred())
    await serve(async (request, { onDelta }) => {
      for (const [i, part] of parts.entries()) {
        onDelta({ content: part })
        await received[i]?.promise
      }
      return answer(`Hello world (${request.messages[0]?.content ?? ''})`)
    }, { servedBy: { name: 'b', peer_id: server.peerId.toString(), tier: 1 } })

    const deltas: string[] = []
    let servedBy
    const result = await completeOverMesh(client, server.peerId, ask('hi'), {
      signal: AbortSignal.timeout(5_000),
      onDelta: d => { received[deltas.push(d.content) - 1]?.resolve() },
      onServedBy: s => { servedBy = s }
    })

    assert.deepEqual(deltas, parts)
    assert.deepEqual(result, answer('Hello world (hi)'))
    assert.deepEqual(servedBy, { name: 'b', peer_id: server.peerId.toString(), tier: 1 })
  })

  it('should carry the serving peer\'s load in the done trailer, read as the answer ends', async () => {
    let active = 0
    await serve(async () => {
      active = 1
      try { return answer('ok') } finally { active = 0 }
    }, { load: () => ({ active, queued: 2, capacity: 4 }) })
    const loads: unknown[] = []
    const result = await completeOverMesh(client, server.peerId, ask('hi'), { signal: AbortSignal.timeout(5_000), onLoad: l => { loads.push(l) } })
    assert.deepEqual(result, answer('ok'))
    assert.deepEqual(loads, [{ active: 0, queued: 2, capacity: 4 }], 'the load after the answer, once')
  })

  it('should batch many tiny deltas into few frames without losing or reordering text', async () => {
    const tokens = Array.from({ length: 500 }, (_, i) => `${i % 10}`)
    await serve(async (_request, { onDelta }) => {
      for (const token of tokens) onDelta({ content: token })
      return answer(tokens.join(''))
    })
    const deltas: string[] = []
    const result = await completeOverMesh(client, server.peerId, ask('count'), { signal: AbortSignal.timeout(5_000), onDelta: d => deltas.push(d.content) })
    assert.equal(deltas.join(''), tokens.join(''))
    assert.ok(deltas.length <= 5, `500 synchronous deltas arrived as ${deltas.length} frames`)
    assert.equal(result.message.content, tokens.join(''))
  })

  it('should throw the serving peer\'s error with its code and retryable flag (busy)', async () => {
    await serve(async () => { throw new BusyError('queue is full') })
    const err = await rejectionOf(completeOverMesh(client, server.peerId, ask('hi'), { signal: AbortSignal.timeout(5_000) }))
    assert.ok(err instanceof BusyError, `got ${err?.name}: ${err?.message}`)
    assert.equal(err.code, 'busy')
    assert.equal(err.retryable, true)
    assert.equal(err.message, 'queue is full')
    assert.equal(afterFirstDelta(err), false)
  })

  it('should report a result the backend got wrong as internal, not as a retryable bad frame', async () => {
    await serve(async () => answer('x', { finish_reason: 'eos' as any }))
    const err = await rejectionOf(completeOverMesh(client, server.peerId, ask('hi'), { signal: AbortSignal.timeout(5_000) }))
    assert.ok(err instanceof InternalError, `got ${err?.name}: ${err?.message}`)
    assert.equal(err.retryable, false)
    assert.match(err.message, /finish_reason/)
  })

  it('should keep the retryable flag and an unknown code from the error trailer', async () => {
    await server.handle(COMPLETE_PROTOCOL, ({ stream }) => {
      void stream.sink([lp.encode.single(encodeResponseFrame({ type: 'error', code: 'quota_exceeded', message: 'over quota', retryable: false }))])
    })
    const err = await rejectionOf(completeOverMesh(client, server.peerId, ask('hi'), { signal: AbortSignal.timeout(5_000) }))
    assert.ok(err instanceof UnavailableError, `got ${err?.name}`)
    assert.equal(err.retryable, false, 'the frame said not retryable')
  })

  const stops: Array<[string, (node: MeshNode) => Promise<void>]> = [
    ['is stopped', async node => { await node.stop() }],
    // What a killed process looks like: every socket torn down with nothing said on the streams.
    ['crashes', async node => {
      for (const connection of node.getConnections()) connection.abort(new Error('simulated crash'))
      await node.stop()
    }]
  ]
  for (const [how, stop] of stops) {
    it(`should throw UnavailableError marked after-first-delta when the serving peer ${how} mid-stream`, async () => {
      const generating = deferred<AbortSignal>()
      await serve(async (_request, { signal, onDelta }) => {
        onDelta({ content: 'partial' })
        generating.resolve(signal)
        await abortedAt(signal)
        throw signal.reason
      })
      const firstDelta = deferred()
      const attempt = completeOverMesh(client, server.peerId, ask('hi'), { signal: AbortSignal.timeout(10_000), onDelta: () => { firstDelta.resolve() } })
      await within(firstDelta.promise, 5_000, 'the first delta')
      const serverSignal = await generating.promise

      const stopping = stop(server)
      const err = await rejectionOf(attempt)
      await stopping

      assert.ok(err instanceof UnavailableError, `got ${err?.name}: ${err?.message}`)
      assert.equal(err.retryable, true)
      assert.equal(afterFirstDelta(err), true)
      assert.equal(serverSignal.aborted, true, 'the stopped peer stopped generating')
    })
  }

  it('should throw UnavailableError when a stream ends cleanly without a trailer', async () => {
    await server.handle(COMPLETE_PROTOCOL, ({ stream }) => {
      void stream.sink([lp.encode.single(encodeResponseFrame({ type: 'delta', content: 'half an answ' }))])
    })
    const deltas: string[] = []
    const err = await rejectionOf(completeOverMesh(client, server.peerId, ask('hi'), { signal: AbortSignal.timeout(5_000), onDelta: d => deltas.push(d.content) }))
    assert.ok(err instanceof UnavailableError, `got ${err?.name}: ${err?.message}`)
    assert.match(err.message, /without a trailer/)
    assert.deepEqual(deltas, ['half an answ'])
    assert.equal(afterFirstDelta(err), true)
  })

  it('should stop generation on the serving peer within 100 ms of the caller aborting', async () => {
    const latencies: number[] = []
    for (let round = 0; round < 5; round++) {
      const serverAborted = deferred<number>()
      const handler = await registerCompletionHandler(server, async (_request, { signal, onDelta }) => {
        onDelta({ content: 'first' })
        serverAborted.resolve(await abortedAt(signal))
        throw signal.reason
      }, { maxInboundStreams: 32 })

      const controller = new AbortController()
      let abortCalledAt = 0
      const attempt = completeOverMesh(client, server.peerId, ask('hi'), {
        signal: controller.signal,
        onDelta: () => {
          abortCalledAt = performance.now()
          controller.abort()
        }
      })
      const err = await rejectionOf(attempt)
      assert.ok(err instanceof AbortedError, `got ${err?.name}: ${err?.message}`)
      assert.equal(afterFirstDelta(err), true)
      const stoppedAt = await within(serverAborted.promise, 2_000, 'the executor\'s signal to abort')
      latencies.push(stoppedAt - abortCalledAt)
      await handler.unregister()
    }
    const worst = Math.max(...latencies)
    assert.ok(worst < CANCEL_BOUND_MS, `cancellation took ${latencies.map(ms => ms.toFixed(1)).join(', ')} ms`)
  })

  it('should throw TimeoutError and stop generation when timeoutMs fires', async () => {
    const serverAborted = deferred<number>()
    await serve(async (_request, { signal }) => {
      serverAborted.resolve(await abortedAt(signal))
      throw signal.reason
    })
    const err = await rejectionOf(completeOverMesh(client, server.peerId, ask('hi'), { signal: new AbortController().signal, timeoutMs: 200 }))
    assert.ok(err instanceof TimeoutError, `got ${err?.name}: ${err?.message}`)
    assert.equal(err.retryable, true)
    assert.equal(afterFirstDelta(err), false)
    await within(serverAborted.promise, 2_000, 'the executor\'s signal to abort')
  })

  it('should answer a malformed request frame with bad_request and keep serving', async () => {
    let calls = 0
    await serve(async () => { calls++; return answer('ok') })

    const frames = await rawExchange(client, server, [lp.encode.single(utf8('{"id":"x","request":{"messages":"nope"}}')).subarray()])
    assert.equal(frames.length, 1, 'exactly one trailer')
    assert.equal(frames[0]?.type, 'error')
    assert.ok(frames[0]?.type === 'error')
    assert.equal(frames[0].code, 'bad_request')
    assert.equal(frames[0].retryable, false)
    assert.match(frames[0].message, /request\.messages/)
    assert.equal(calls, 0, 'the executor never saw it')

    const result = await completeOverMesh(client, server.peerId, ask('hi'), { signal: AbortSignal.timeout(5_000) })
    assert.equal(result.message.content, 'ok')
  })

  it('should reject an oversize request frame and keep serving', async () => {
    let calls = 0
    await serve(async () => { calls++; return answer('ok') })

    const huge = new Uint8Array(MAX_REQUEST_FRAME_BYTES + 1).fill(0x20)
    const frames = await rawExchange(client, server, [lp.encode.single(huge, { maxDataLength: huge.byteLength }).subarray()])
    assert.equal(frames.length, 1, 'exactly one trailer')
    assert.ok(frames[0]?.type === 'error')
    assert.equal(frames[0].code, 'bad_request')
    assert.match(frames[0].message, /over the \d+-byte limit/)
    assert.equal(calls, 0)

    const result = await completeOverMesh(client, server.peerId, ask('hi'), { signal: AbortSignal.timeout(5_000) })
    assert.equal(result.message.content, 'ok')
  })

  it('should fail with UnavailableError on an oversize response frame', async () => {
    await server.handle(COMPLETE_PROTOCOL, ({ stream }) => {
      void stream.sink([lp.encode.single(new Uint8Array(MAX_RESPONSE_FRAME_BYTES + 1).fill(0x20))]).catch(() => {})
    })
    const err = await rejectionOf(completeOverMesh(client, server.peerId, ask('hi'), { signal: AbortSignal.timeout(5_000) }))
    assert.ok(err instanceof UnavailableError, `got ${err?.name}: ${err?.message}`)
    assert.match(err.message, /too long/i)
  })

  it('should fail with UnavailableError on a malformed response frame', async () => {
    await server.handle(COMPLETE_PROTOCOL, ({ stream }) => {
      void stream.sink([lp.encode.single(utf8('{"type":"done"}'))]).catch(() => {})
    })
    const err = await rejectionOf(completeOverMesh(client, server.peerId, ask('hi'), { signal: AbortSignal.timeout(5_000) }))
    assert.ok(err instanceof UnavailableError, `got ${err?.name}: ${err?.message}`)
    assert.match(err.message, /bad response frame/)
  })

  it('should complete 20 concurrent requests over one connection', async () => {
    const COUNT = 20
    let running = 0
    // Every executor holds until all 20 run at once: proof that the streams are concurrent.
    const allRunning = deferred()
    await serve(async (request, { onDelta }) => {
      if (++running === COUNT) allRunning.resolve()
      const prompt = request.messages[0]?.content ?? ''
      onDelta({ content: prompt })
      await allRunning.promise
      return answer(`echo ${prompt}`)
    })
    const prompts = Array.from({ length: COUNT }, (_, i) => `prompt-${i}`)
    const results = await Promise.all(prompts.map(async prompt => {
      const deltas: string[] = []
      const result = await completeOverMesh(client, server.peerId, ask(prompt), { signal: AbortSignal.timeout(10_000), onDelta: d => deltas.push(d.content) })
      return { deltas, content: result.message.content }
    }))
    assert.deepEqual(results, prompts.map(p => ({ deltas: [p], content: `echo ${p}` })))
    assert.equal(client.getConnections(server.peerId).length, 1, 'one connection')
  })

  it('should apply maxInboundStreams: a stream over the limit fails as retryable unavailable', async () => {
    const release = deferred()
    const started = deferred()
    await serve(async () => {
      started.resolve()
      await release.promise
      return answer('ok')
    }, { maxInboundStreams: 1 })
    const first = completeOverMesh(client, server.peerId, ask('one'), { signal: AbortSignal.timeout(5_000) })
    await within(started.promise, 5_000, 'the first completion to start')
    const err = await rejectionOf(completeOverMesh(client, server.peerId, ask('two'), { signal: AbortSignal.timeout(5_000) }))
    release.resolve()
    assert.ok(err instanceof UnavailableError, `got ${err?.name}: ${err?.message}`)
    assert.equal(err.retryable, true)
    assert.equal((await first).message.content, 'ok')
  })

  it('should deliver temperature 0 as 0 and the other fields unchanged', async () => {
    let seen: CompletionRequest | undefined
    await serve(async request => { seen = request; return answer('ok') })
    const request = ask('hi', { temperature: 0, max_tokens: 7, stop: ['\n'], tier: 2 })
    await completeOverMesh(client, server.peerId, request, { signal: AbortSignal.timeout(5_000) })
    assert.ok(seen != null)
    assert.equal(seen.temperature, 0)
    assert.ok('temperature' in seen, 'temperature present, not dropped')
    assert.equal(seen.model, undefined, 'no model: the serving peer picks one')
    assert.deepEqual(seen, request)
  })

  it('should stop generation when the caller closes its write side before the trailer', async () => {
    const serverAborted = deferred<AbortSignal>()
    await serve(async (_request, { signal }) => {
      await abortedAt(signal)
      serverAborted.resolve(signal)
      throw signal.reason
    })
    const stream = await client.dialProtocol(server.peerId, COMPLETE_PROTOCOL, { signal: AbortSignal.timeout(5_000) })
    // sink() ends after the one frame: a half-close, the caller saying it no longer waits.
    await stream.sink([lp.encode.single(encodeRequestFrame({ id: 'half-close', request: ask('hi') }))])
    const signal = await within(serverAborted.promise, 2_000, 'the executor\'s signal to abort')
    assert.match(String(signal.reason?.message), /closed the stream/)
    stream.abort(new Error('test done'))
  })

  it('should drop a stream that sends no request within the read timeout', async () => {
    let calls = 0
    const handler = await registerCompletionHandler(server, async () => { calls++; return answer('ok') }, { maxInboundStreams: 4, requestTimeoutMs: 100 })
    const stream = await client.dialProtocol(server.peerId, COMPLETE_PROTOCOL, { signal: AbortSignal.timeout(5_000) })
    const ended = (async () => {
      try {
        for await (const chunk of stream.source) assert.fail(`unexpected ${chunk.byteLength} bytes`)
      } catch {
        // A reset is the expected way for it to end.
      }
    })()
    await within(ended, 2_000, 'the idle stream to be dropped')
    assert.equal(handler.active, 0)
    assert.equal(calls, 0)
    stream.abort(new Error('test done'))
  })

  it('should reject an invalid request locally as bad_request without dialing', async () => {
    const err = await rejectionOf(completeOverMesh(client, server.peerId, ask('hi', { temperature: 3 }), { signal: AbortSignal.timeout(5_000) }))
    assert.ok(err instanceof BadRequestError, `got ${err?.name}`)
    assert.match(err.message, /request\.temperature/)
  })

  it('should fail with retryable UnavailableError when the peer cannot be dialed', async () => {
    const nowhere = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
    const err = await rejectionOf(completeOverMesh(client, nowhere, ask('hi'), { signal: AbortSignal.timeout(5_000) }))
    assert.ok(err instanceof UnavailableError, `got ${err?.name}: ${err?.message}`)
    assert.equal(err.retryable, true)
    assert.equal(afterFirstDelta(err), false)
  })

  it('should refuse new streams after unregister and tell in-flight callers unavailable when aborting them', async () => {
    const generating = deferred()
    const handler = await registerCompletionHandler(server, async (_request, { signal }) => {
      generating.resolve()
      await abortedAt(signal)
      throw signal.reason
    }, { maxInboundStreams: 4 })
    const inFlight = completeOverMesh(client, server.peerId, ask('hi'), { signal: AbortSignal.timeout(5_000) })
    await within(generating.promise, 5_000, 'the completion to start')
    assert.equal(handler.active, 1)
    await handler.unregister({ abortInFlight: true })

    const err = await rejectionOf(inFlight)
    assert.ok(err instanceof UnavailableError, `got ${err?.name}: ${err?.message}`)
    assert.match(err.message, /shutting down/)
    assert.equal(err.retryable, true)

    const refused = await rejectionOf(completeOverMesh(client, server.peerId, ask('hi'), { signal: AbortSignal.timeout(5_000) }))
    assert.ok(refused instanceof UnavailableError, `got ${refused?.name}: ${refused?.message}`)
  })

  it('should reject a request that cannot be encoded within the frame limit as bad_request', async () => {
    const err = await rejectionOf(completeOverMesh(client, server.peerId, ask('x'.repeat(MAX_REQUEST_FRAME_BYTES)), { signal: AbortSignal.timeout(5_000) }))
    assert.ok(err instanceof BadRequestError, `got ${err?.name}`)
    assert.match(err.message, /frame limit/)
  })

  describe('stream reuse', () => {
    /** Counts the streams `node` opens from here on. */
    function countDials (node: MeshNode): () => number {
      let dials = 0
      const dialProtocol = node.dialProtocol.bind(node)
      node.dialProtocol = (async (...args: Parameters<typeof dialProtocol>) => {
        dials++
        return await dialProtocol(...args)
      }) as typeof node.dialProtocol
      return () => dials
    }

    /** Open completion streams on `node`'s connections to `other`. */
    const completionStreams = (node: MeshNode, other: MeshNode): number =>
      node.getConnections(other.peerId).flatMap(c => c.streams).filter(s => s.protocol === COMPLETE_PROTOCOL).length

    async function until (condition: () => boolean, ms: number, what: string): Promise<void> {
      const deadline = performance.now() + ms
      while (!condition()) {
        if (performance.now() > deadline) assert.fail(`timed out after ${ms} ms waiting for ${what}`)
        await new Promise(resolve => setTimeout(resolve, 10))
      }
    }

    it('should carry 50 sequential requests on one stream', async () => {
      await serve(async (request, { onDelta }) => {
        onDelta({ content: 'x' })
        return answer(`echo ${request.messages[0]?.content ?? ''}`)
      })
      const dials = countDials(client)
      for (let i = 0; i < 50; i++) {
        const deltas: string[] = []
        const result = await completeOverMesh(client, server.peerId, ask(`n${i}`), { signal: AbortSignal.timeout(5_000), onDelta: d => deltas.push(d.content) })
        assert.equal(result.message.content, `echo n${i}`)
        assert.deepEqual(deltas, ['x'])
      }
      assert.ok(dials() >= 1 && dials() <= 2, `${dials()} streams opened`)
      assert.ok(completionStreams(server, client) <= 2, `${completionStreams(server, client)} completion streams open on the server`)
      assert.equal(streamPoolOf(client).idle(server.peerId), 1)
    })

    it('should drop a pooled stream the serving peer closed while idle', async () => {
      await serve(async () => answer('ok'), { idleTimeoutMs: 100 })
      const dials = countDials(client)
      await completeOverMesh(client, server.peerId, ask('one'), { signal: AbortSignal.timeout(5_000) })
      assert.equal(streamPoolOf(client).idle(server.peerId), 1)
      await until(() => streamPoolOf(client).idle(server.peerId) === 0, 2_000, 'the pool to notice the close')
      const result = await completeOverMesh(client, server.peerId, ask('two'), { signal: AbortSignal.timeout(5_000) })
      assert.equal(result.message.content, 'ok')
      assert.equal(dials(), 2)
    })

    it('should retry once on a new stream when a pooled stream is closed as the request arrives', async () => {
      // A peer that answers one request per stream and closes the stream on the next one,
      // unanswered: what a pooled stream looks like when the peer's idle timeout fires just then.
      let streams = 0
      await server.handle(COMPLETE_PROTOCOL, ({ stream }) => {
        streams++
        const outgoing = pushable<Uint8Array>()
        stream.sink(outgoing).catch(() => {})
        void (async () => {
          const frames = lp.decode(stream.source, { maxDataLength: MAX_REQUEST_FRAME_BYTES })
          await frames.next()
          outgoing.push(lp.encode.single(encodeResponseFrame({ type: 'done', ...answer(`stream ${streams}`) })).subarray())
          await frames.next()
          outgoing.end()
          await stream.close()
        })().catch(() => {})
      })
      const dials = countDials(client)
      assert.equal((await completeOverMesh(client, server.peerId, ask('one'), { signal: AbortSignal.timeout(5_000) })).message.content, 'stream 1')
      const deltas: string[] = []
      const result = await completeOverMesh(client, server.peerId, ask('two'), { signal: AbortSignal.timeout(5_000), onDelta: d => deltas.push(d.content) })
      assert.equal(result.message.content, 'stream 2')
      assert.equal(dials(), 2, 'the stale stream was reused once, then a new one opened')
      assert.deepEqual(deltas, [])
    })

    it('should stop generation within 100 ms when a request on a reused stream is aborted', async () => {
      const dials = countDials(client)
      const latencies: number[] = []
      let serverAborted = deferred<number>()
      await serve(async (request, { signal, onDelta }) => {
        if (request.messages[0]?.content === 'warm up') return answer('ok')
        onDelta({ content: 'first' })
        serverAborted.resolve(await abortedAt(signal))
        throw signal.reason
      })
      for (let round = 0; round < 5; round++) {
        serverAborted = deferred<number>()
        await completeOverMesh(client, server.peerId, ask('warm up'), { signal: AbortSignal.timeout(5_000) })
        const before = dials()
        const controller = new AbortController()
        let abortCalledAt = 0
        const err = await rejectionOf(completeOverMesh(client, server.peerId, ask('hi'), {
          signal: controller.signal,
          onDelta: () => {
            abortCalledAt = performance.now()
            controller.abort()
          }
        }))
        assert.equal(dials(), before, 'the aborted request went on the pooled stream')
        assert.ok(err instanceof AbortedError, `got ${err?.name}: ${err?.message}`)
        assert.equal(afterFirstDelta(err), true)
        latencies.push(await within(serverAborted.promise, 2_000, 'the executor\'s signal to abort') - abortCalledAt)
      }
      const worst = Math.max(...latencies)
      assert.ok(worst < CANCEL_BOUND_MS, `cancellation took ${latencies.map(ms => ms.toFixed(1)).join(', ')} ms`)
    })

    it('should use a new stream after an aborted request, and succeed', async () => {
      await serve(async (request, { signal, onDelta }) => {
        if (request.messages[0]?.content !== 'stall') return answer('ok')
        onDelta({ content: 'first' })
        await abortedAt(signal)
        throw signal.reason
      })
      const dials = countDials(client)
      await completeOverMesh(client, server.peerId, ask('one'), { signal: AbortSignal.timeout(5_000) })
      const controller = new AbortController()
      const err = await rejectionOf(completeOverMesh(client, server.peerId, ask('stall'), { signal: controller.signal, onDelta: () => { controller.abort() } }))
      assert.ok(err instanceof AbortedError, `got ${err?.name}: ${err?.message}`)
      assert.equal(dials(), 1, 'the aborted request reused the stream')
      assert.equal(streamPoolOf(client).idle(server.peerId), 0, 'the aborted stream is not pooled')
      const result = await completeOverMesh(client, server.peerId, ask('three'), { signal: AbortSignal.timeout(5_000) })
      assert.equal(result.message.content, 'ok')
      assert.equal(dials(), 2)
      assert.equal(streamPoolOf(client).idle(server.peerId), 1)
    })

    it('should run 20 concurrent requests and keep at most maxIdlePerPeer idle streams', async () => {
      const COUNT = 20
      const MAX_IDLE = 8
      let running = 0
      let allRunning = deferred()
      await serve(async (request, { onDelta }) => {
        if (++running === COUNT) allRunning.resolve()
        const prompt = request.messages[0]?.content ?? ''
        onDelta({ content: prompt })
        await allRunning.promise
        return answer(`echo ${prompt}`)
      })
      const pool = createStreamPool(client, { maxIdlePerPeer: MAX_IDLE })
      const dials = countDials(client)
      let mostIdle = 0
      const round = async (tag: string): Promise<void> => {
        running = 0
        allRunning = deferred()
        const prompts = Array.from({ length: COUNT }, (_, i) => `${tag}-${i}`)
        const results = await Promise.all(prompts.map(async prompt => {
          const result = await completeOverMesh(client, server.peerId, ask(prompt), { signal: AbortSignal.timeout(10_000), pool })
          mostIdle = Math.max(mostIdle, pool.idle(server.peerId))
          return result.message.content
        }))
        assert.deepEqual(results, prompts.map(p => `echo ${p}`))
      }
      await round('a')
      assert.equal(dials(), COUNT)
      assert.equal(pool.idle(server.peerId), MAX_IDLE)
      await round('b')
      assert.equal(dials(), COUNT + COUNT - MAX_IDLE, 'the second round reused the idle streams')
      assert.ok(mostIdle <= MAX_IDLE, `${mostIdle} idle streams`)
      // The extras were closed, and closing the pool ends the rest on the serving peer too.
      await until(() => completionStreams(server, client) === MAX_IDLE, 2_000, 'the extra streams to close on the server')
      pool.close()
      await until(() => completionStreams(server, client) === 0, 2_000, 'the pooled streams to close on the server')
    })
  })
})
