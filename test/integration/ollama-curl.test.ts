import assert from 'node:assert/strict'
import { startSyntheticPeer, type SyntheticPeer } from '../helpers/synthetic-peer.js'

// Ollama's own documentation (docs/api.md) calls its API as `curl http://localhost:11434/api/chat
// -d '{…}'`: curl then sends `content-type: application/x-www-form-urlencoded`, and other tools
// send none. Ollama reads the body as JSON whatever the header says, and so must a peer (issue 17).
// These are those calls as plain fetch, with each content-type a script may send.

const MODEL = 'llama3.2'
const encoder = new TextEncoder()

/** The request headers each way of sending the body produces. */
const SENDERS: Array<{ name: string, init: (body: string) => RequestInit }> = [
  // What `curl -d` sends.
  { name: 'curl -d (form-urlencoded)', init: body => ({ method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body }) },
  // Bytes: fetch sets no content-type at all.
  { name: 'no content-type', init: body => ({ method: 'POST', body: encoder.encode(body) }) },
  // A string: fetch's own default.
  { name: 'text/plain', init: body => ({ method: 'POST', body }) },
  { name: 'application/json', init: body => ({ method: 'POST', headers: { 'content-type': 'application/json' }, body }) }
]

/** Each line of an NDJSON body, parsed. */
async function ndjson (response: Response): Promise<any[]> {
  return (await response.text()).split('\n').filter(line => line !== '').map(line => JSON.parse(line))
}

describe('Ollama\'s documented curl calls, as plain fetch', function () {
  this.timeout(30_000)
  let peer: SyntheticPeer

  before(async () => { peer = await startSyntheticPeer({ models: [MODEL] }) })
  after(async () => { await peer?.stop() })

  for (const sender of SENDERS) {
    describe(sender.name, () => {
      it('should answer POST /api/generate (streamed by default) with NDJSON ending in done', async () => {
        const response = await fetch(`${peer.api}/api/generate`, sender.init(`{
  "model": "${MODEL}",
  "prompt": "Why is the sky blue?"
}`))
        assert.equal(response.status, 200)
        assert.match(response.headers.get('content-type') ?? '', /application\/x-ndjson/)
        const lines = await ndjson(response)
        assert.ok(lines.length > 1, `expected deltas and a final line, got ${lines.length}`)
        assert.deepEqual(lines.slice(0, -1).map(l => [l.model, l.done, typeof l.response]), lines.slice(0, -1).map(() => [MODEL, false, 'string']))
        assert.equal(lines.at(-1).done, true)
      })

      it('should answer POST /api/generate with "stream": false as one object', async () => {
        const response = await fetch(`${peer.api}/api/generate`, sender.init(`{
  "model": "${MODEL}",
  "prompt": "Why is the sky blue?",
  "stream": false
}`))
        assert.equal(response.status, 200)
        const body = await response.json() as any
        assert.equal(body.done, true)
        assert.ok(body.response.length > 0, 'empty response')
        assert.equal(typeof body.eval_count, 'number')
      })

      it('should answer POST /api/chat (streamed by default)', async () => {
        const response = await fetch(`${peer.api}/api/chat`, sender.init(`{
  "model": "${MODEL}",
  "messages": [
    {
      "role": "user",
      "content": "why is the sky blue?"
    }
  ]
}`))
        assert.equal(response.status, 200)
        const lines = await ndjson(response)
        assert.equal(lines.at(-1).done, true)
        assert.ok(lines.slice(0, -1).every(l => l.message.role === 'assistant' && typeof l.message.content === 'string'), 'a delta line without an assistant message')
      })

      it('should answer POST /api/chat with history, options and "stream": false', async () => {
        const response = await fetch(`${peer.api}/api/chat`, sender.init(`{
  "model": "${MODEL}",
  "messages": [
    { "role": "user", "content": "why is the sky blue?" },
    { "role": "assistant", "content": "due to rayleigh scattering." },
    { "role": "user", "content": "how is that different than mie scattering?" }
  ],
  "stream": false,
  "options": { "seed": 101, "temperature": 0, "num_predict": 5 }
}`))
        assert.equal(response.status, 200)
        const body = await response.json() as any
        assert.deepEqual([body.done, body.done_reason, body.eval_count, body.message.role], [true, 'length', 5, 'assistant'])
      })

      it('should answer the load request (model only) with done_reason "load"', async () => {
        const response = await fetch(`${peer.api}/api/generate`, sender.init(`{
  "model": "${MODEL}"
}`))
        assert.equal(response.status, 200)
        const body = await response.json() as any
        assert.deepEqual([body.done, body.done_reason], [true, 'load'])
      })

      it('should answer a body that is not JSON with 400 in Ollama\'s error shape', async () => {
        const response = await fetch(`${peer.api}/api/chat`, sender.init('model=llama3.2&prompt=hi'))
        assert.equal(response.status, 400)
        const body = await response.json() as any
        assert.equal(typeof body.error, 'string', `not Ollama's shape: ${JSON.stringify(body)}`)
      })
    })
  }

  it('should read the body as JSON whatever the content-type, even one that does not parse', async () => {
    for (const type of ['application/octet-stream', 'multipart/form-data; boundary=x', 'nonsense', 'application/xml; charset=utf-8']) {
      const response = await fetch(`${peer.api}/api/chat`, { method: 'POST', headers: { 'content-type': type }, body: `{"model":"${MODEL}","messages":[{"role":"user","content":"hi"}],"stream":false}` })
      assert.equal(response.status, 200, `content-type ${type}`)
    }
  })

  it('should answer the same for the OpenAI and harombe endpoints, in their own error shapes', async () => {
    const form = { 'content-type': 'application/x-www-form-urlencoded' }
    const openai = await fetch(`${peer.api}/v1/chat/completions`, { method: 'POST', headers: form, body: `{"model":"${MODEL}","messages":[{"role":"user","content":"hi"}]}` })
    assert.equal(openai.status, 200)
    assert.equal(((await openai.json()) as any).object, 'chat.completion')
    const harombe = await fetch(`${peer.api}/api/complete`, { method: 'POST', headers: form, body: '{"messages":[{"role":"user","content":"hi"}]}' })
    assert.equal(harombe.status, 200)
    assert.equal(typeof ((await harombe.json()) as any).message.content, 'string')

    const badOpenAI = await fetch(`${peer.api}/v1/chat/completions`, { method: 'POST', headers: form, body: 'not json' })
    assert.equal(badOpenAI.status, 400)
    const openAIError = (await badOpenAI.json() as any).error
    assert.deepEqual([typeof openAIError.message, openAIError.type], ['string', 'invalid_request_error'])
    const badHarombe = await fetch(`${peer.api}/api/complete`, { method: 'POST', body: encoder.encode('{"messages": [') })
    assert.equal(badHarombe.status, 400)
    assert.equal((await badHarombe.json() as any).error.code, 'bad_request')
  })

  it('should answer GET /api/tags with the served model', async () => {
    const response = await fetch(`${peer.api}/api/tags`)
    assert.equal(response.status, 200)
    const body = await response.json() as any
    assert.deepEqual(body.models.map((m: any) => [m.name, m.model]), [[MODEL, MODEL]])
  })

  it('should answer GET /api/version with a version string', async () => {
    const response = await fetch(`${peer.api}/api/version`)
    assert.equal(response.status, 200)
    assert.match(((await response.json()) as any).version, /^\d+\.\d+\.\d+/)
  })

  it('should answer POST /api/show as curl sends it (form content-type) with the model\'s details', async () => {
    const response = await fetch(`${peer.api}/api/show`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `{"model": "${MODEL}"}` })
    assert.equal(response.status, 200)
    assert.equal(typeof ((await response.json()) as any).details, 'object')
  })

  it('should answer POST /api/show for a model no peer serves with 404 in Ollama\'s error shape', async () => {
    const response = await fetch(`${peer.api}/api/show`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: '{"model": "no-such-model"}' })
    assert.equal(response.status, 404)
    assert.equal(typeof ((await response.json()) as any).error, 'string')
  })
})
