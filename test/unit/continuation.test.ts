import assert from 'node:assert/strict'
import { once } from 'node:events'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { budgetSpent, combineAnswer, continuationCandidates, continuedRequest, createEchoStripper, refuseHandover, stripEcho, type HandoverState } from '../../src/completion/continuation.js'
import { continuingBackend } from '../../src/completion/continuing-backend.js'
import { createSyntheticBackend, SYNTHETIC_TOKEN_CHARS } from '../../src/backends/synthetic.js'
import { announcedDigests } from '../../src/backends/model-watch.js'
import { chatBody, createOpenAIBackend } from '../../src/backends/openai.js'
import { ollamaChatBody } from '../../src/backends/ollama.js'
import { toChatHistory } from '../../src/backends/chat-history.js'
import { continueHeaderOff } from '../../src/http/dialect.js'
import { resolveStartOptions } from '../../src/cli/start.js'
import type { Backend, BackendRequest, CompletionResult } from '../../src/completion/types.js'
import type { RouteCandidate } from '../../src/routing/router.js'
import type { CompletionErrorCode } from '../../src/completion/errors.js'

const REQUEST: BackendRequest = { model: 'm', messages: [{ role: 'user', content: 'count' }], temperature: 0.7 }
const retryable = { retryable: true, code: 'unavailable' } as const

describe('continuation rules', () => {
  describe('refuseHandover', () => {
    const state = (patch: Partial<HandoverState> = {}): HandoverState => ({ enabled: true, handovers: 0, maxHandovers: 2, delivered: 'Once upon', ...patch })
    const cases: Array<{ why: string, err?: { retryable: boolean, code: CompletionErrorCode }, request?: Pick<BackendRequest, 'tools'>, state: HandoverState, refused: RegExp | undefined }> = [
      { why: 'a dead peer after some text', state: state(), refused: undefined },
      { why: 'the second handover', state: state({ handovers: 1 }), refused: undefined },
      { why: 'beyond the handover budget', state: state({ handovers: 2 }), refused: /already handed over 2/ },
      { why: 'continuation off', state: state({ enabled: false }), refused: /off/ },
      { why: 'a failure any peer would repeat', err: { retryable: false, code: 'bad_request' }, state: state(), refused: /bad_request/ },
      { why: 'a request with tools', request: { tools: [{ type: 'function', function: { name: 'f' } }] }, state: state(), refused: /tools/ },
      { why: 'nothing delivered yet', state: state({ delivered: '' }), refused: /nothing/ }
    ]
    for (const c of cases) {
      it(`should ${c.refused == null ? 'allow' : 'refuse'} ${c.why}`, () => {
        const refused = refuseHandover(c.err ?? retryable, c.request ?? {}, c.state)
        if (c.refused == null) assert.equal(refused, undefined)
        else assert.match(refused ?? '', c.refused)
      })
    }
  })

  describe('continuationCandidates', () => {
    const peer = (id: string, patch: Partial<RouteCandidate> = {}): RouteCandidate => ({
      id, name: id, models: ['m'], tier: 0, enabled: true, state: 'alive', load: { active: 0, queued: 0, capacity: 1 }, via: 'mesh', ...patch
    })
    const cases: Array<{ why: string, candidates: RouteCandidate[], digest?: string, tried?: string[], expected: string[] }> = [
      { why: 'same model, not tried', candidates: [peer('a'), peer('b')], tried: ['a'], expected: ['b'] },
      { why: 'another model', candidates: [peer('b', { models: ['other'] })], expected: [] },
      { why: 'an HTTP-only node (cannot take a prefix)', candidates: [peer('b', { via: 'http' })], expected: [] },
      { why: 'this peer itself', candidates: [peer('self', { via: 'local' })], expected: ['self'] },
      { why: 'the same digest', candidates: [peer('b', { digests: { m: 'aaaaaaaaaaaaaaaa' } })], digest: 'aaaaaaaaaaaaaaaa', expected: ['b'] },
      { why: 'another digest (same name, other weights)', candidates: [peer('b', { digests: { m: 'bbbbbbbbbbbbbbbb' } })], digest: 'aaaaaaaaaaaaaaaa', expected: [] },
      { why: 'a digest only one side knows', candidates: [peer('b')], digest: 'aaaaaaaaaaaaaaaa', expected: ['b'] },
      { why: 'a digest only the candidate knows', candidates: [peer('b', { digests: { m: 'bbbbbbbbbbbbbbbb' } })], expected: ['b'] }
    ]
    for (const c of cases) {
      it(`should pick ${JSON.stringify(c.expected)} for ${c.why}`, () => {
        assert.deepEqual(continuationCandidates(c.candidates, 'm', c.digest, new Set(c.tried ?? [])).map(x => x.id), c.expected)
      })
    }
  })

  it('should keep the original request, sampling included, and add the prefix', () => {
    assert.deepEqual(continuedRequest(REQUEST, { text: 'Once upon', tokens: 2 }), { ...REQUEST, continuation: { prefix: 'Once upon' } })
    assert.equal(continuedRequest({ ...REQUEST, max_tokens: 10 }, { text: 'Once upon', tokens: 2 }).max_tokens, 8, 'the budget less what was delivered')
    assert.equal(continuedRequest({ ...REQUEST, max_tokens: 2 }, { text: 'Once upon', tokens: 5 }).max_tokens, 1)
  })

  it('should count the client\'s max_tokens spent once the delivered tokens reach it', () => {
    assert.deepEqual([
      budgetSpent({ max_tokens: 8 }, { text: 'x', tokens: 8 }),
      budgetSpent({ max_tokens: 8 }, { text: 'x', tokens: 7 }),
      budgetSpent({}, { text: 'x', tokens: 1_000 })
    ], [true, false, false])
  })

  it('should make the synthetic backend continue where the prefix ends (prefix + continuation = one unbroken run)', async () => {
    const backend = createSyntheticBackend()
    const whole = await backend.complete({ model: 'synthetic', messages: REQUEST.messages, max_tokens: 12 }, { signal: AbortSignal.timeout(1000) })
    const text = whole.message.content ?? ''
    const prefix = text.slice(0, 5 * SYNTHETIC_TOKEN_CHARS)
    const rest = await backend.complete(continuedRequest({ model: 'synthetic', messages: REQUEST.messages, max_tokens: 12 }, { text: prefix, tokens: 5 }), { signal: AbortSignal.timeout(1000) })
    assert.equal(prefix + (rest.message.content ?? ''), text)
    await backend.close()
  })

  describe('combineAnswer', () => {
    const last: CompletionResult = { message: { role: 'assistant', content: ' a time.' }, finish_reason: 'stop', model: 'm', usage: { prompt_tokens: 12, completion_tokens: 3 } }
    it('should give one answer: delivered text first, the last finish reason, tokens of every attempt', () => {
      assert.deepEqual(combineAnswer({ text: 'Once upon', tokens: 2 }, last), {
        message: { role: 'assistant', content: 'Once upon a time.' }, finish_reason: 'stop', model: 'm', usage: { prompt_tokens: 10, completion_tokens: 5 }
      })
    })
    it('should return the answer as it is when nothing was handed over', () => {
      assert.equal(combineAnswer({ text: '', tokens: 0 }, last), last)
    })
    const cachedCases: Array<{ why: string, cached: number | undefined, expected: number | undefined }> = [
      { why: 'the last peer\'s figure when it is within the client\'s prompt', cached: 6, expected: 6 },
      { why: 'at most the client\'s prompt (the cache held part of the delivered text too)', cached: 11, expected: 10 },
      { why: 'a reported miss stays a figure', cached: 0, expected: 0 },
      { why: 'no figure when the last peer reported none', cached: undefined, expected: undefined }
    ]
    for (const c of cachedCases) {
      it(`should report ${String(c.expected)} cached prompt tokens after a handover: ${c.why}`, () => {
        const usage = { ...last.usage, ...(c.cached !== undefined ? { prompt_tokens_details: { cached_tokens: c.cached } } : {}) }
        const combined = combineAnswer({ text: 'Once upon', tokens: 2 }, { ...last, usage })
        assert.equal(combined.usage.prompt_tokens, 10)
        assert.deepEqual(combined.usage.prompt_tokens_details, c.expected === undefined ? undefined : { cached_tokens: c.expected })
      })
    }
  })

  describe('echo stripping', () => {
    const cases: Array<{ why: string, prefix: string, deltas: string[], expected: string[] }> = [
      { why: 'llama-server: the first delta holds the prefix and the first token', prefix: 'Once upon', deltas: ['Once upon a', ' time'], expected: [' a', ' time'] },
      { why: 'a server that returns only new text', prefix: 'Once upon', deltas: [' a', ' time'], expected: [' a', ' time'] },
      { why: 'new text that repeats the prefix later', prefix: 'la', deltas: [' la', 'la'], expected: [' la', 'la'] },
      { why: 'the prefix echoed alone', prefix: 'Once', deltas: ['Once', ' more'], expected: ['', ' more'] },
      { why: 'empty deltas before the first text', prefix: 'Once', deltas: ['', 'Once!', 'Once'], expected: ['', '!', 'Once'] }
    ]
    for (const c of cases) {
      it(`should pass on only new text for ${c.why}`, () => {
        const stripper = createEchoStripper(c.prefix)
        assert.deepEqual(c.deltas.map(d => stripper.push(d)), c.expected)
      })
    }
    it('should strip the whole content as the stream decided', () => {
      assert.equal(stripEcho('Once', 'Once more', true), ' more')
      assert.equal(stripEcho('Once', 'Once more', false), 'Once more', 'never text the model generated')
      assert.equal(stripEcho('Once', 'Once more', undefined), ' more', 'not streamed: decided from the content')
      assert.equal(stripEcho('Once', null, undefined), null)
    })
  })

  it('should make a backend return only new text for a continued request, streamed and whole', async () => {
    const echoing: Backend = {
      kind: 'test',
      capacity: 1,
      models: async () => ['m'],
      health: async () => ({ ok: true, latencyMs: 0 }),
      close: async () => {},
      async complete (request, options) {
        const prefix = request.continuation?.prefix ?? ''
        options.onDelta?.({ content: `${prefix} a` })
        options.onDelta?.({ content: ' time' })
        return { message: { role: 'assistant', content: `${prefix} a time` }, finish_reason: 'stop', model: 'm', usage: { prompt_tokens: 1, completion_tokens: 2 } }
      }
    }
    const deltas: string[] = []
    const result = await continuingBackend(echoing).complete(continuedRequest(REQUEST, { text: 'Once upon', tokens: 2 }), { signal: AbortSignal.timeout(1000), onDelta: d => deltas.push(d.content) })
    assert.deepEqual(deltas, [' a', ' time'])
    assert.equal(result.message.content, ' a time')
  })

  describe('what each backend sends for a continued request', () => {
    const continued = continuedRequest(REQUEST, { text: 'Once upon', tokens: 2 })
    it('should give an OpenAI-compatible server a trailing assistant message and the continuation flags', () => {
      const body = chatBody(continued, true)
      assert.deepEqual((body.messages as unknown[]).at(-1), { role: 'assistant', content: 'Once upon' })
      assert.equal(body.continue_final_message, true)
      assert.equal(body.add_generation_prompt, false)
      assert.equal(body.temperature, 0.7, 'sampling passed on unchanged')
      const plain = chatBody(REQUEST, true)
      assert.equal(plain.continue_final_message, undefined)
      assert.equal((plain.messages as unknown[]).length, 1)
    })
    it('should give Ollama a trailing assistant message', () => {
      const body = ollamaChatBody(continued, true)
      assert.deepEqual(body.messages.at(-1), { role: 'assistant', content: 'Once upon' })
      assert.equal(body.options?.temperature, 0.7)
    })
    it('should make the embedded backend continue the model turn instead of starting a new one', () => {
      const history = toChatHistory([...REQUEST.messages, { role: 'assistant', content: 'Once upon' }], true)
      assert.deepEqual(history.at(-1), { type: 'model', response: ['Once upon'] })
      const finished = toChatHistory([...REQUEST.messages, { role: 'assistant', content: 'Once upon' }])
      assert.deepEqual(finished.at(-1), { type: 'model', response: [] }, 'without continueLast a new turn starts')
    })
  })

  describe('a server that refuses the continuation flags', () => {
    let server: Server
    const bodies: any[] = []
    before(async () => {
      server = createServer((req, res) => {
        let text = ''
        req.on('data', c => { text += c })
        req.on('end', () => {
          const body = JSON.parse(text)
          bodies.push(body)
          res.setHeader('content-type', 'application/json')
          if ('continue_final_message' in body) {
            res.statusCode = 400
            res.end(JSON.stringify({ error: { message: 'Unrecognized request argument supplied: continue_final_message', type: 'invalid_request_error' } }))
            return
          }
          res.end(JSON.stringify({ id: 'x', object: 'chat.completion', model: 'm', choices: [{ index: 0, message: { role: 'assistant', content: ' a time' }, finish_reason: 'stop' }], usage: { prompt_tokens: 3, completion_tokens: 2 } }))
        })
      })
      server.listen(0, '127.0.0.1')
      await once(server, 'listening')
    })
    after(() => { server.close() })

    it('should continue with the trailing assistant message alone, and not send the flags again', async () => {
      const backend = createOpenAIBackend({ baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1` })
      const first = await backend.complete(continuedRequest(REQUEST, { text: 'Once upon', tokens: 2 }), { signal: AbortSignal.timeout(5_000) })
      assert.equal(first.message.content, ' a time')
      const second = await backend.complete(continuedRequest(REQUEST, { text: 'Twice', tokens: 1 }), { signal: AbortSignal.timeout(5_000) })
      assert.equal(second.message.content, ' a time')
      assert.deepEqual(bodies.map(b => 'continue_final_message' in b), [true, false, false])
      assert.deepEqual(bodies.map(b => b.messages.at(-1).content), ['Once upon', 'Once upon', 'Twice'])
      await backend.close()
    })
  })

  it('should read x-harombe-continue: off (and its spellings) as off, anything else as the peer\'s default', () => {
    assert.deepEqual(['off', 'OFF', 'false', 'no', '0', ' off '].map(continueHeaderOff), [true, true, true, true, true, true])
    assert.deepEqual([undefined, 'on', 'true', '1', '', 'maybe'].map(continueHeaderOff), [false, false, false, false, false, false])
  })

  it('should announce 16 hex digits of a full digest, only for served models', () => {
    const full = 'ABCDEF0123456789'.toLowerCase() + 'f'.repeat(48)
    assert.deepEqual(announcedDigests(['m', 'n'], { m: full, x: full, n: 'mock' }), { m: 'abcdef0123456789' })
    assert.deepEqual(announcedDigests(['m'], undefined), {})
  })

  it('should take --max-handovers from 0 to 10 and refuse anything else as a usage error', async () => {
    const resolve = async (value: string): ReturnType<typeof resolveStartOptions> => await resolveStartOptions({ name: 'p', dataDir: '/tmp/unused', maxHandovers: value }, {})
    assert.equal((await resolve('0')).options.maxHandovers, 0)
    assert.equal((await resolve('10')).options.maxHandovers, 10)
    assert.equal((await resolveStartOptions({ name: 'p', dataDir: '/tmp/unused' }, {})).options.maxHandovers, 2)
    for (const bad of ['11', '-1', 'two', '1.5']) {
      await assert.rejects(resolve(bad), (err: Error) => err.name === 'UsageError' && /--max-handovers: expected a whole number from 0 to 10/.test(err.message), bad)
    }
  })
})
