import assert from 'node:assert/strict'
import OpenAI from 'openai'
import { Ollama } from 'ollama'
import { ask, createCluster, MODEL, postJson, textOf, tokensOf, type ClusterNode } from '../helpers/cluster.js'

const WEATHER_TOOL = {
  type: 'function' as const,
  function: {
    name: 'get_weather',
    description: 'Current weather in a city',
    parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] }
  }
}
/** What both mocks call the tool with when the request has tools and the last message is the user's. */
const CALL_ARGS = { city: 'Paris' }
const TOOL_RESULT = '{"temp_c":21}'
const TOOL_ANSWER = `The tool said: ${TOOL_RESULT}`

const TOKEN = 'secret'

/** The last chat body an upstream received. */
function lastChat (node: ClusterNode): any {
  return node.mock?.chatRequests().at(-1)?.body
}

describe('completion APIs with the official clients and at the HTTP door', function () {
  this.timeout(20_000)
  const cluster = createCluster()

  afterEach(async () => { await cluster.stop() })

  /**
   * a: tier 0 on an OpenAI-compatible upstream; b: tier 1 on an Ollama upstream. A request with
   * no tier goes to a (lowest first); `x-harombe-tier: 1` goes to b. Either way through either peer.
   */
  async function twoFlavours (): Promise<{ a: ClusterNode, b: ClusterNode }> {
    const toolCalls = [{ arguments: JSON.stringify(CALL_ARGS) }]
    const [a, b] = await cluster.start([
      { name: 'a', tier: 0, backend: 'openai', behavior: { toolCalls } },
      { name: 'b', tier: 1, backend: 'ollama', behavior: { toolCalls } }
    ])
    if (a == null || b == null) throw new Error('cluster did not start')
    return { a, b }
  }

  describe('openai npm client', () => {
    it('should complete non-streamed, locally and over the mesh', async () => {
      const { a } = await twoFlavours()
      const client = new OpenAI({ baseURL: `${a.api}/v1`, apiKey: 'unused', maxRetries: 0, timeout: 10_000 })

      const local = await client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'hi' }] }).withResponse()
      assert.equal(local.response.headers.get('x-harombe-node'), 'a')
      assert.equal(local.data.choices[0]?.message.content, textOf('a'))
      assert.equal(local.data.choices[0]?.finish_reason, 'stop')
      assert.equal(local.data.model, MODEL)
      assert.equal(local.data.usage?.completion_tokens, tokensOf('a').length)

      const remote = await client.chat.completions.create(
        { model: MODEL, messages: [{ role: 'user', content: 'hi' }] },
        { headers: { 'x-harombe-tier': '1' } }
      ).withResponse()
      assert.equal(remote.response.headers.get('x-harombe-node'), 'b')
      assert.equal(remote.data.choices[0]?.message.content, textOf('b'))
    })

    it('should stream with usage, over the mesh', async () => {
      const { a } = await twoFlavours()
      const client = new OpenAI({ baseURL: `${a.api}/v1`, apiKey: 'unused', maxRetries: 0, timeout: 10_000, defaultHeaders: { 'x-harombe-tier': '1' } })
      const stream = await client.chat.completions.create({
        model: MODEL,
        messages: [{ role: 'user', content: 'hi' }],
        stream: true,
        stream_options: { include_usage: true }
      })
      let content = ''
      const finishes: string[] = []
      let usage: OpenAI.CompletionUsage | undefined
      for await (const chunk of stream) {
        content += chunk.choices[0]?.delta.content ?? ''
        const finish = chunk.choices[0]?.finish_reason
        if (finish != null) finishes.push(finish)
        if (chunk.usage != null) usage = chunk.usage
      }
      assert.equal(content, textOf('b'))
      assert.deepEqual(finishes, ['stop'])
      assert.equal(usage?.completion_tokens, tokensOf('b').length)
    })

    it('should round-trip a tool call (tool_calls → tool message → answer) over the mesh to an Ollama upstream', async () => {
      const { a, b } = await twoFlavours()
      const client = new OpenAI({ baseURL: `${a.api}/v1`, apiKey: 'unused', maxRetries: 0, timeout: 10_000, defaultHeaders: { 'x-harombe-tier': '1' } })
      const messages: OpenAI.ChatCompletionMessageParam[] = [{ role: 'user', content: 'Weather in Paris?' }]

      // The first turn streamed: the SDK assembles the tool call from the chunks.
      const first = await client.chat.completions.stream({ model: MODEL, messages, tools: [WEATHER_TOOL] }).finalChatCompletion()
      const choice = first.choices[0]
      assert.equal(choice?.finish_reason, 'tool_calls')
      const call = choice?.message.tool_calls?.[0]
      assert.ok(call != null && call.type === 'function', `a function call: ${JSON.stringify(choice?.message)}`)
      assert.equal(call.function.name, 'get_weather')
      assert.deepEqual(JSON.parse(call.function.arguments), CALL_ARGS)
      assert.equal(typeof call.id, 'string')

      messages.push({ role: 'assistant', content: null, tool_calls: [call] })
      messages.push({ role: 'tool', tool_call_id: call.id, content: TOOL_RESULT })
      const final = await client.chat.completions.create({ model: MODEL, messages, tools: [WEATHER_TOOL] })
      assert.equal(final.choices[0]?.finish_reason, 'stop')
      assert.equal(final.choices[0]?.message.content, TOOL_ANSWER)

      // The Ollama upstream got the history in its own shape: object arguments, a named tool result.
      const upstream = lastChat(b)
      assert.deepEqual(upstream.messages.at(-2).tool_calls[0].function, { name: 'get_weather', arguments: CALL_ARGS })
      assert.deepEqual(upstream.messages.at(-1), { role: 'tool', content: TOOL_RESULT, tool_name: 'get_weather' })
    })

    it('should list the mesh\'s models', async () => {
      const { b } = await twoFlavours()
      const client = new OpenAI({ baseURL: `${b.api}/v1`, apiKey: 'unused', maxRetries: 0, timeout: 10_000 })
      const page = await client.models.list()
      assert.deepEqual(page.data.map(m => m.id), [MODEL])
      assert.deepEqual(page.data[0]?.owned_by.split(',').sort(), ['a', 'b'])
    })
  })

  describe('ollama npm client', () => {
    it('should chat non-streamed, over the mesh and locally', async () => {
      const { b } = await twoFlavours()
      const remote = await new Ollama({ host: b.api }).chat({ model: MODEL, messages: [{ role: 'user', content: 'hi' }], stream: false })
      assert.equal(remote.message.content, textOf('a'), 'no tier: the lowest tier (a) serves')
      assert.equal(remote.done, true)
      assert.equal(remote.eval_count, tokensOf('a').length)

      const local = await new Ollama({ host: b.api, headers: { 'x-harombe-tier': '1' } }).chat({ model: MODEL, messages: [{ role: 'user', content: 'hi' }], stream: false })
      assert.equal(local.message.content, textOf('b'))
    })

    it('should chat streamed', async () => {
      const { b } = await twoFlavours()
      const parts = await new Ollama({ host: b.api }).chat({ model: MODEL, messages: [{ role: 'user', content: 'hi' }], stream: true })
      let content = ''
      const done: boolean[] = []
      for await (const part of parts) {
        content += part.message.content
        done.push(part.done)
      }
      assert.equal(content, textOf('a'))
      assert.ok(done.length > 1, 'several parts')
      assert.deepEqual(done.slice(-1), [true], 'the last part says done')
      assert.ok(done.slice(0, -1).every(d => !d), 'only the last part says done')

      const generated = await new Ollama({ host: b.api }).generate({ model: MODEL, prompt: 'hi', stream: false })
      assert.equal(generated.response, textOf('a'))
    })

    it('should answer a preload (empty chat or prompt) with done_reason load, without generating', async () => {
      const { a, b } = await twoFlavours()
      const ollama = new Ollama({ host: b.api })
      const chat = await ollama.chat({ model: MODEL, messages: [], stream: false })
      assert.equal(chat.done, true)
      assert.equal(chat.done_reason, 'load')
      assert.deepEqual(chat.message, { role: 'assistant', content: '' })
      const generated = await ollama.generate({ model: MODEL, prompt: '', stream: false })
      assert.equal(generated.done_reason, 'load')
      assert.equal(generated.response, '')
      assert.equal((a.mock?.chatRequests().length ?? 0) + (b.mock?.chatRequests().length ?? 0), 0, 'no backend generated anything')
      await assert.rejects(ollama.chat({ model: 'no-such-model', messages: [], stream: false }), /model 'no-such-model' not found/)
    })

    it('should round-trip a tool call (tool_calls → tool message → answer) over the mesh to an OpenAI upstream', async () => {
      const { a, b } = await twoFlavours()
      const ollama = new Ollama({ host: b.api })
      const messages: Array<{ role: string, content: string, tool_calls?: any[], tool_name?: string }> = [{ role: 'user', content: 'Weather in Paris?' }]
      const first = await ollama.chat({ model: MODEL, messages, tools: [WEATHER_TOOL], stream: false })
      const calls = first.message.tool_calls ?? []
      assert.equal(calls.length, 1, `one tool call: ${JSON.stringify(first.message)}`)
      assert.deepEqual(calls[0]?.function, { name: 'get_weather', arguments: CALL_ARGS })

      messages.push(first.message)
      messages.push({ role: 'tool', content: TOOL_RESULT, tool_name: 'get_weather' })
      const final = await ollama.chat({ model: MODEL, messages, tools: [WEATHER_TOOL], stream: false })
      assert.equal(final.message.content, TOOL_ANSWER)
      assert.equal(final.message.tool_calls, undefined)

      // The OpenAI upstream got the history in its own shape: string arguments, and a tool message
      // that answers the assistant's call by id (OpenAI-compatible servers reject one without).
      const upstream = lastChat(a)
      const assistant = upstream.messages.at(-2)
      const callId = assistant.tool_calls[0].id
      assert.equal(typeof callId, 'string')
      assert.deepEqual(JSON.parse(assistant.tool_calls[0].function.arguments), CALL_ARGS)
      assert.equal(upstream.messages.at(-1).role, 'tool')
      assert.equal(upstream.messages.at(-1).tool_call_id, callId, 'the tool result names the call it answers')
    })

    it('should list the mesh\'s models', async () => {
      const { a } = await twoFlavours()
      const listed = await new Ollama({ host: a.api }).list()
      assert.deepEqual(listed.models.map(m => m.name), [MODEL])
      const version = await new Ollama({ host: a.api }).version()
      assert.equal(typeof version.version, 'string')
    })
  })

  describe('bearer token', () => {
    // Each protected endpoint, with a body that succeeds, and the error format it answers in.
    const endpoints: Array<{ method: 'GET' | 'POST', path: string, body?: unknown, format: 'openai' | 'ollama' | 'harombe' }> = [
      { method: 'POST', path: '/v1/chat/completions', body: ask(), format: 'openai' },
      { method: 'GET', path: '/v1/models', format: 'openai' },
      { method: 'POST', path: '/api/chat', body: { ...ask(), stream: false }, format: 'ollama' },
      { method: 'GET', path: '/api/tags', format: 'ollama' },
      { method: 'POST', path: '/api/complete', body: ask(), format: 'harombe' },
      { method: 'GET', path: '/api/cluster', format: 'harombe' }
    ]
    const call = async (api: string, e: typeof endpoints[number], authorization?: string): Promise<Response> =>
      await fetch(api + e.path, {
        method: e.method,
        headers: { ...(e.body != null ? { 'content-type': 'application/json' } : {}), ...(authorization != null ? { authorization } : {}) },
        ...(e.body != null ? { body: JSON.stringify(e.body) } : {}),
        signal: AbortSignal.timeout(10_000)
      })

    it('should answer 401 in each API\'s own error format without the right token', async () => {
      const [a] = await cluster.start([{ name: 'a', peer: { token: TOKEN } }])
      for (const e of endpoints) {
        for (const authorization of [undefined, 'Bearer wrong', TOKEN, `Basic ${TOKEN}`]) {
          const what = `${e.method} ${e.path} with ${authorization ?? 'no authorization'}`
          const res = await call(a?.api ?? '', e, authorization)
          assert.equal(res.status, 401, what)
          assert.equal(res.headers.get('www-authenticate'), 'Bearer', what)
          const body = await res.json() as any
          if (e.format === 'openai') {
            assert.equal(typeof body.error?.message, 'string', `${what}: OpenAI error.message`)
            assert.equal(body.error.type, 'authentication_error', what)
          } else if (e.format === 'ollama') {
            assert.equal(typeof body.error, 'string', `${what}: Ollama error string`)
          } else {
            assert.equal(typeof body.error?.message, 'string', `${what}: harombe error.message`)
            assert.equal(body.error.code, 'unauthorized', what)
          }
        }
      }
      assert.equal(a?.mock?.chatRequests().length, 0, 'nothing reached the upstream')
    })

    it('should serve every endpoint with the right token', async () => {
      const [a] = await cluster.start([{ name: 'a', peer: { token: TOKEN } }])
      for (const e of endpoints) {
        const res = await call(a?.api ?? '', e, `Bearer ${TOKEN}`)
        assert.equal(res.status, 200, `${e.method} ${e.path}: ${await res.text()}`)
      }
      // The clients send the token their own way and are let in.
      const openai = new OpenAI({ baseURL: `${a?.api}/v1`, apiKey: TOKEN, maxRetries: 0, timeout: 10_000 })
      const answer = await openai.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'hi' }] })
      assert.equal(answer.choices[0]?.message.content, textOf('a'))
      const ollama = new Ollama({ host: a?.api ?? '', headers: { authorization: `Bearer ${TOKEN}` } })
      assert.deepEqual((await ollama.list()).models.map(m => m.name), [MODEL])
      // And refused, with the server's message, without it.
      await assert.rejects(new OpenAI({ baseURL: `${a?.api}/v1`, apiKey: 'wrong', maxRetries: 0 }).models.list(), (err: any) => {
        assert.equal(err.status, 401)
        assert.match(err.message, /bearer token/)
        return true
      })
      await assert.rejects(new Ollama({ host: a?.api ?? '' }).list(), (err: any) => {
        assert.equal(err.status_code, 401)
        assert.match(err.message, /bearer token/)
        return true
      })
    })

    it('should keep /healthz open without a token', async () => {
      const [a] = await cluster.start([{ name: 'a', peer: { token: TOKEN } }])
      const res = await fetch(`${a?.api}/healthz`, { signal: AbortSignal.timeout(5_000) })
      assert.equal(res.status, 200)
    })
  })

  describe('request validation', () => {
    const openAIError = (body: any, status: number): void => {
      assert.equal(typeof body.error?.message, 'string', `OpenAI error shape: ${JSON.stringify(body)}`)
      assert.equal(body.error.type, status === 401 ? 'authentication_error' : 'invalid_request_error')
    }
    const ollamaError = (body: any): void => {
      assert.equal(typeof body.error, 'string', `Ollama error shape: ${JSON.stringify(body)}`)
    }
    const harombeError = (body: any, code: string): void => {
      assert.equal(typeof body.error?.message, 'string', `harombe error shape: ${JSON.stringify(body)}`)
      assert.equal(body.error.code, code)
    }
    const dialects = [
      { path: '/v1/chat/completions', check: (body: any, status: number) => { openAIError(body, status) } },
      { path: '/api/chat', check: (body: any) => { ollamaError(body) } },
      { path: '/api/complete', check: (body: any, _status: number, code: string) => { harombeError(body, code) } }
    ]
    const user = [{ role: 'user', content: 'hi' }]

    it('should answer 400 in each API\'s format for a bad body', async () => {
      const [a] = await cluster.start([{ name: 'a' }])
      const bad: Array<{ what: string, body: unknown, ollama?: unknown, match: RegExp }> = [
        // Ollama reads a missing history as a preload (done_reason "load"): a bad role instead.
        { what: 'missing messages', body: { model: MODEL }, ollama: { model: MODEL, messages: [{ role: 'wizard', content: 'hi' }] }, match: /messages/ },
        { what: 'temperature 5', body: { model: MODEL, messages: user, temperature: 5 }, ollama: { model: MODEL, messages: user, options: { temperature: 5 } }, match: /temperature/ },
        { what: 'malformed JSON', body: '{"model": "llama", "messages": [', match: /JSON/ },
        { what: 'messages not a list', body: { model: MODEL, messages: 'hi' }, match: /messages/ }
      ]
      for (const d of dialects) {
        for (const b of bad) {
          const body = d.path === '/api/chat' && b.ollama != null ? b.ollama : b.body
          const res = await postJson(a?.api + d.path, body)
          const text = await res.text()
          assert.equal(res.status, 400, `${d.path} ${b.what}: ${text}`)
          const parsed = JSON.parse(text)
          d.check(parsed, 400, 'bad_request')
          assert.match(JSON.stringify(parsed), b.match, `${d.path} ${b.what} names the problem`)
        }
      }
      // Ollama's own required field.
      const noModel = await postJson(`${a?.api}/api/chat`, { messages: user })
      assert.equal(noModel.status, 400)
      ollamaError(await noModel.json())
      assert.equal(a?.mock?.chatRequests().length, 0, 'nothing reached the upstream')
    })

    it('should answer 413 in each API\'s format for a body over the limit', async () => {
      const [a] = await cluster.start([{ name: 'a' }])
      const huge = JSON.stringify({ model: MODEL, messages: [{ role: 'user', content: 'x'.repeat(5 * 1024 * 1024) }] })
      for (const d of dialects) {
        const res = await postJson(a?.api + d.path, huge)
        assert.equal(res.status, 413, d.path)
        const body = await res.json() as any
        if (d.path.startsWith('/v1/')) openAIError(body, 413)
        else d.check(body, 413, 'body_too_large')
      }
      assert.equal(a?.mock?.chatRequests().length, 0)
    })

    it('should answer 404 in each API\'s format for an unknown model', async () => {
      const [a] = await cluster.start([{ name: 'a' }, { name: 'b', tier: 1 }])
      for (const d of dialects) {
        const res = await postJson(a?.api + d.path, { model: 'no-such-model', messages: user, stream: false })
        assert.equal(res.status, 404, d.path)
        const body = await res.json() as any
        d.check(body, 404, 'unknown_model')
        assert.match(JSON.stringify(body), /no-such-model/)
      }
    })

    it('should pass temperature 0 to the upstream as 0, locally and over the mesh', async () => {
      const { a, b } = await twoFlavours()
      const cases: Array<{ what: string, path: string, body: unknown, tier?: string, node: ClusterNode, read: (upstream: any) => unknown }> = [
        { what: 'OpenAI API → local OpenAI upstream', path: '/v1/chat/completions', body: ask('hi', { temperature: 0 }), node: a, read: u => u.temperature },
        { what: 'OpenAI API → mesh → Ollama upstream', path: '/v1/chat/completions', body: ask('hi', { temperature: 0 }), tier: '1', node: b, read: u => u.options?.temperature },
        { what: 'Ollama API → local OpenAI upstream', path: '/api/chat', body: { model: MODEL, messages: user, stream: false, options: { temperature: 0 } }, node: a, read: u => u.temperature },
        { what: 'harombe API → mesh → Ollama upstream', path: '/api/complete', body: ask('hi', { temperature: 0 }), tier: '1', node: b, read: u => u.options?.temperature }
      ]
      for (const c of cases) {
        const res = await postJson(a.api + c.path, c.body, { headers: c.tier != null ? { 'x-harombe-tier': c.tier } : {} })
        assert.equal(res.status, 200, `${c.what}: ${await res.text()}`)
        assert.equal(res.headers.get('x-harombe-node'), c.node.name, c.what)
        assert.equal(c.read(lastChat(c.node)), 0, `${c.what}: temperature ${JSON.stringify(lastChat(c.node))}`)
      }
    })
  })
})
