import assert from 'node:assert/strict'
import { AbortedError, BadRequestError, NoPeerError, UnavailableError, UnknownModelError } from '../../src/completion/errors.js'
import { createRequestLog, RingBuffer, tokensPerSecond, type RequestRecord } from '../../src/completion/request-log.js'
import type { CompletionService, NodeRef, ServeOptions, Served } from '../../src/completion/service.js'
import type { CompletionRequest } from '../../src/completion/types.js'
import { parseLimit, requestJson } from '../../src/http/requests-routes.js'

const NODE: NodeRef = { name: 'b', peer_id: '12D3KooWb', tier: 1 }
const REQUEST: CompletionRequest = { model: 'llama', messages: [{ role: 'user', content: 'hi' }] }

function served (tokens: number, attempts = 1): Served {
  return {
    result: { message: { role: 'assistant', content: 'x' }, finish_reason: 'stop', model: 'llama', usage: { prompt_tokens: 1, completion_tokens: tokens } },
    node: NODE,
    reason: 'test',
    attempts
  }
}

/** A service whose `complete` runs `script` against a hand-driven clock. */
function fakeService (script: (options: ServeOptions) => Promise<Served>): CompletionService {
  return { complete: async (_request, options) => await script(options), models: () => [{ name: 'llama', nodes: [NODE] }] }
}

/** A clock the test moves by hand, so durations are exact. */
function manualClock (): { now: () => number, advance: (ms: number) => void } {
  let t = 1_000
  return { now: () => t, advance: ms => { t += ms } }
}

describe('RingBuffer', () => {
  const cases: Array<{ capacity: number, pushed: number, limit?: number, expected: number[] }> = [
    { capacity: 3, pushed: 0, expected: [] },
    { capacity: 3, pushed: 2, expected: [2, 1] },
    { capacity: 3, pushed: 3, expected: [3, 2, 1] },
    { capacity: 3, pushed: 7, expected: [7, 6, 5] },
    { capacity: 3, pushed: 7, limit: 2, expected: [7, 6] },
    { capacity: 3, pushed: 7, limit: 10, expected: [7, 6, 5] },
    { capacity: 3, pushed: 7, limit: 0, expected: [] },
    { capacity: 1, pushed: 4, expected: [4] },
    { capacity: 100, pushed: 250, limit: 3, expected: [250, 249, 248] }
  ]
  for (const c of cases) {
    it(`should return ${JSON.stringify(c.expected)} newest first from capacity ${c.capacity} after ${c.pushed} pushes, limit ${c.limit ?? 'none'}`, () => {
      const ring = new RingBuffer<number>(c.capacity)
      for (let i = 1; i <= c.pushed; i++) ring.push(i)
      assert.deepEqual(ring.newest(c.limit), c.expected)
      assert.equal(ring.size, Math.min(c.pushed, c.capacity))
    })
  }

  it('should refuse a capacity that is not a positive integer', () => {
    for (const bad of [0, -1, 1.5, Number.NaN]) assert.throws(() => new RingBuffer(bad), RangeError, String(bad))
  })
})

describe('request log', () => {
  it('should record a streamed success with its node, attempts, TTFT, duration and tokens', async () => {
    const clock = manualClock()
    const log = createRequestLog({ now: clock.now, date: () => Date.UTC(2025, 0, 2, 3, 4, 5), id: () => 'r1' })
    const seen: RequestRecord[] = []
    log.onRecord(r => { seen.push(r) })
    const deltas: string[] = []
    const commits: NodeRef[] = []
    const service = log.wrap(fakeService(async options => {
      clock.advance(40)
      options.onCommit?.(NODE)
      options.onDelta?.({ content: 'a' })
      clock.advance(60)
      options.onDelta?.({ content: 'b' })
      assert.equal(log.inFlight(), 1, 'in flight while running')
      return served(12, 2)
    }), 'openai')

    await service.complete(REQUEST, { signal: new AbortController().signal, onCommit: n => { commits.push(n) }, onDelta: d => { deltas.push(d.content) } })

    assert.deepEqual(deltas, ['a', 'b'], 'the caller still gets every delta')
    assert.deepEqual(commits, [NODE], 'the caller still gets the commit')
    assert.equal(log.inFlight(), 0)
    const expected: RequestRecord = { id: 'r1', startedAt: Date.UTC(2025, 0, 2, 3, 4, 5), api: 'openai', model: 'llama', stream: true, outcome: 'ok', servedBy: NODE, attempts: 2, routeReason: 'test', ttftMs: 40, durationMs: 100, completionTokens: 12, promptTokens: 1 }
    assert.deepEqual(log.recent(), [expected])
    assert.deepEqual(seen, [expected], 'listeners get the same record')
  })

  it('should not hand a non-streaming caller an onDelta (backends would stream for nothing) and leave TTFT unset', async () => {
    const log = createRequestLog()
    let gotOnDelta: boolean | undefined
    await log.wrap(fakeService(async options => {
      gotOnDelta = options.onDelta != null
      return served(3)
    }), 'ollama').complete(REQUEST, { signal: new AbortController().signal })
    assert.equal(gotOnDelta, false)
    const [r] = log.recent()
    assert.equal(r?.stream, false)
    assert.equal(r?.ttftMs, undefined)
  })

  it('should record a failure after the first token as an error served by the committed node, and rethrow it', async () => {
    const log = createRequestLog()
    const failure = new UnavailableError('stream cut')
    const service = log.wrap(fakeService(async options => {
      options.onAttempt?.(NODE, 'prefix 512 of 700 chars warm on b')
      options.onCommit?.(NODE)
      options.onDelta?.({ content: 'a' })
      throw failure
    }), 'harombe')
    await assert.rejects(service.complete(REQUEST, { signal: new AbortController().signal, onDelta: () => {} }), err => err === failure)
    const [r] = log.recent()
    assert.equal(r?.outcome, 'error')
    assert.equal(r?.error, 'stream cut')
    assert.deepEqual(r?.servedBy, NODE)
    assert.equal(r?.attempts, 1)
    assert.equal(r?.routeReason, 'prefix 512 of 700 chars warm on b', 'why the router chose the peer that failed')
    assert.equal(requestJson(r as RequestRecord).route_reason, 'prefix 512 of 700 chars warm on b')
    assert.equal(r?.completionTokens, undefined)
    assert.equal(log.inFlight(), 0)
  })

  it('should record aborted when the caller\'s signal fired, whatever the error says', async () => {
    const log = createRequestLog()
    const controller = new AbortController()
    const service = log.wrap(fakeService(async () => {
      controller.abort()
      throw new UnavailableError('stream closed')
    }), 'openai')
    await assert.rejects(service.complete(REQUEST, { signal: controller.signal, onDelta: () => {} }))
    assert.equal(log.recent()[0]?.outcome, 'aborted')
  })

  it('should keep only the newest records and stop calling an unsubscribed listener', async () => {
    let n = 0
    const log = createRequestLog({ capacity: 3, id: () => `r${++n}` })
    let calls = 0
    const unsubscribe = log.onRecord(() => { calls++ })
    const service = log.wrap(fakeService(async () => served(1)), 'harombe')
    for (let i = 0; i < 5; i++) {
      if (i === 2) unsubscribe()
      await service.complete(REQUEST, { signal: new AbortController().signal })
    }
    assert.deepEqual(log.recent().map(r => r.id), ['r5', 'r4', 'r3'])
    assert.deepEqual(log.recent(2).map(r => r.id), ['r5', 'r4'])
    assert.equal(calls, 2)
    assert.deepEqual(log.kept(), { size: 3, limit: 3 }, 'at its bound, as /metrics reports it')
  })

  it('should answer the request even when a listener throws', async () => {
    const log = createRequestLog()
    log.onRecord(() => { throw new Error('broken listener') })
    const answer = await log.wrap(fakeService(async () => served(1)), 'harombe').complete(REQUEST, { signal: new AbortController().signal })
    assert.equal(answer.result.usage.completion_tokens, 1)
    assert.equal(log.recent().length, 1)
  })
})

describe('request log: attempts behind a failure', () => {
  // The dispatcher reports each attempt as it starts; the journal counts them, whatever the error.
  const cases: Array<{ err: Error, attempts: number, why: string }> = [
    { err: new UnknownModelError('no peer serves "x"'), attempts: 0, why: 'routing refused' },
    { err: new NoPeerError('no peer could serve the request: every candidate is unavailable'), attempts: 0, why: 'no candidate tried' },
    { err: new NoPeerError('no peer could serve the request after 3 attempt(s); last error: boom'), attempts: 3, why: 'every attempt failed' },
    { err: new BadRequestError('bad'), attempts: 2, why: 'a retry ended in a non-retryable error' },
    { err: new AbortedError('client went away'), attempts: 1, why: 'left during an attempt' },
    { err: new UnavailableError('cut'), attempts: 1, why: 'failed after commit' }
  ]
  for (const c of cases) {
    it(`should record ${c.attempts} attempt(s) for ${c.err.name} (${c.why})`, async () => {
      const log = createRequestLog()
      const service = fakeService(async options => {
        for (let i = 0; i < c.attempts; i++) options.onAttempt?.(NODE)
        throw c.err
      })
      await assert.rejects(log.wrap(service, 'harombe').complete(REQUEST, { signal: new AbortController().signal }))
      assert.equal(log.recent()[0]?.attempts, c.attempts)
    })
  }
})

describe('tokensPerSecond', () => {
  const cases: Array<{ record: Parameters<typeof tokensPerSecond>[0], expected: number | undefined }> = [
    { record: { completionTokens: 10, durationMs: 1_000 }, expected: 10 },
    { record: { completionTokens: 10, durationMs: 1_500, ttftMs: 500 }, expected: 10 },
    { record: { completionTokens: 0, durationMs: 1_000 }, expected: undefined },
    { record: { durationMs: 1_000 }, expected: undefined },
    { record: { completionTokens: 5, durationMs: 200, ttftMs: 200 }, expected: undefined }
  ]
  for (const c of cases) {
    it(`should give ${String(c.expected)} for ${JSON.stringify(c.record)}`, () => {
      assert.equal(tokensPerSecond(c.record), c.expected)
    })
  }
})

describe('GET /api/requests helpers', () => {
  const cases: Array<{ raw: unknown, expected: ReturnType<typeof parseLimit> }> = [
    { raw: undefined, expected: { ok: true, limit: 50 } },
    { raw: '', expected: { ok: true, limit: 50 } },
    { raw: '7', expected: { ok: true, limit: 7 } },
    { raw: '100', expected: { ok: true, limit: 100 } },
    { raw: '1000', expected: { ok: true, limit: 100 } },
    { raw: ['3', '9'], expected: { ok: true, limit: 9 } }
  ]
  for (const c of cases) {
    it(`should read limit ${JSON.stringify(c.raw)} as ${JSON.stringify(c.expected)}`, () => {
      assert.deepEqual(parseLimit(c.raw), c.expected)
    })
  }
  for (const bad of ['0', '-1', 'ten', '2.5']) {
    it(`should refuse limit ${JSON.stringify(bad)}`, () => {
      assert.equal(parseLimit(bad).ok, false)
    })
  }

  it('should record the prompt tokens and the cached ones the backend reported (issue 23)', async () => {
    const log = createRequestLog()
    const hit = served(2)
    hit.result.usage = { prompt_tokens: 1233, completion_tokens: 2, prompt_tokens_details: { cached_tokens: 1180 } }
    await log.wrap(fakeService(async () => hit), 'openai').complete(REQUEST, { signal: new AbortController().signal })
    await log.wrap(fakeService(async () => served(2)), 'openai').complete(REQUEST, { signal: new AbortController().signal })
    const [noFigure, withHit] = log.recent()
    assert.deepEqual([withHit?.promptTokens, withHit?.cachedTokens], [1233, 1180])
    assert.deepEqual([noFigure?.promptTokens, 'cachedTokens' in (noFigure ?? {})], [1, false], 'no figure: no cachedTokens, not 0')
    const json = requestJson(withHit!)
    assert.deepEqual([json.prompt_tokens, json.cached_tokens], [1233, 1180])
  })

  it('should render a record in the dashboard\'s shape, leaving out absent optional fields', () => {
    const json = requestJson({ id: 'r1', startedAt: Date.UTC(2025, 0, 2), api: 'ollama', model: 'auto', stream: false, outcome: 'error', error: 'no peer', errorCode: 'no_peer', attempts: 0, durationMs: 12.345 })
    assert.deepEqual(json, { id: 'r1', started_at: '2025-01-02T00:00:00.000Z', api: 'ollama', model: 'auto', stream: false, outcome: 'error', error: 'no peer', attempts: 0, duration_ms: 12.3 })
  })
})
