import assert from 'node:assert/strict'
import { MAX_REQUEST_FRAME_BYTES, MAX_RESPONSE_FRAME_BYTES } from '../../src/protocol/constants.js'
import {
  MAX_ERROR_MESSAGE_CHARS,
  decodeRequestFrame,
  decodeResponseFrame,
  encodeRequestFrame,
  encodeResponseFrame,
  resultOf,
  validateRequest,
  type DoneFrame,
  type ResponseFrame
} from '../../src/protocol/frames.js'

const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text)
const json = (value: unknown): Uint8Array => utf8(JSON.stringify(value))

function requestFrame (request: Record<string, unknown> = {}): Record<string, unknown> {
  return { id: 'req-1', request: { messages: [{ role: 'user', content: 'hi' }], ...request } }
}

const DONE: DoneFrame = {
  type: 'done',
  message: { role: 'assistant', content: 'hello' },
  finish_reason: 'stop',
  model: 'tiny',
  usage: { prompt_tokens: 3, completion_tokens: 1 },
  served_by: { name: 'a', peer_id: '12D3KooWQMHZVjj47RKpX2mhNeUV4PFHdzbj9EAv8qHxaMDJuXq1', tier: 1 }
}

const TOOL_CALL = { id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Oslo"}' } }

/** `value` as JSON, padded with trailing whitespace (still valid JSON) to exactly `size` bytes. */
function jsonOfSize (value: unknown, size: number): Uint8Array {
  const text = JSON.stringify(value)
  assert.ok(text.length <= size, 'fixture: value is already larger than the requested size')
  return utf8(text.padEnd(size, ' '))
}


describe('protocol frames', () => {
  describe('decodeRequestFrame', () => {
    const valid: Array<[string, Record<string, unknown>]> = [
      ['a minimal request', requestFrame()],
      ['every optional field', requestFrame({
        temperature: 0.7,
        max_tokens: 128,
        model: 'qwen2.5:3b',
        tier: 2,
        stop: ['\n\n'],
        tools: [{ type: 'function', function: { name: 'get_weather', description: 'Weather', parameters: { type: 'object', properties: {} } } }]
      })],
      ['temperature 0 (greedy)', requestFrame({ temperature: 0 })],
      ['temperature 2 (upper bound)', requestFrame({ temperature: 2 })],
      ['a tool-call round trip', requestFrame({
        messages: [
          { role: 'system', content: 'be brief' },
          { role: 'user', content: 'weather?' },
          { role: 'assistant', content: null, tool_calls: [TOOL_CALL] },
          { role: 'tool', content: '{"temp":3}', tool_call_id: 'call_1', name: 'get_weather' }
        ]
      })]
    ]
    for (const [what, frame] of valid) {
      it(`should accept ${what}`, () => {
        const decoded = decodeRequestFrame(json(frame))
        assert.equal(decoded.ok, true, decoded.ok ? '' : decoded.reason)
        assert.deepEqual(decoded.ok && decoded.value, frame)
      })
    }

    it('should keep temperature 0 as 0, not drop it', () => {
      const decoded = decodeRequestFrame(encodeRequestFrame({ id: 'x', request: { messages: [{ role: 'user', content: 'hi' }], temperature: 0 } }))
      assert.ok(decoded.ok)
      assert.equal(decoded.value.request.temperature, 0)
      assert.ok('temperature' in decoded.value.request)
    })

    it('should drop unknown fields rather than reject them', () => {
      const decoded = decodeRequestFrame(json({ ...requestFrame({ stream: true }), extra: 1 }))
      assert.ok(decoded.ok)
      assert.equal('stream' in decoded.value.request, false)
      assert.equal('extra' in decoded.value, false)
    })

    const invalid: Array<[string, Uint8Array, RegExp]> = [
      ['empty bytes', new Uint8Array(0), /^malformed: not UTF-8 JSON/],
      ['invalid UTF-8', new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]), /^malformed: not UTF-8 JSON/],
      ['not JSON', utf8('{"id":'), /^malformed: not UTF-8 JSON/],
      ['a JSON array', json([1, 2]), /^malformed: \(root\)/],
      ['JSON null', json(null), /^malformed: \(root\)/],
      ['no id', json({ request: requestFrame().request }), /^malformed: id:/],
      ['an empty id', json({ ...requestFrame(), id: '' }), /^malformed: id:/],
      ['an overlong id', json({ ...requestFrame(), id: 'x'.repeat(129) }), /^malformed: id:/],
      ['no request', json({ id: 'x' }), /^malformed: request:/],
      ['no messages', json(requestFrame({ messages: undefined })), /^malformed: request\.messages:/],
      ['empty messages', json(requestFrame({ messages: [] })), /^malformed: request\.messages:/],
      ['messages not an array', json(requestFrame({ messages: 'hi' })), /^malformed: request\.messages:/],
      ['an unknown role', json(requestFrame({ messages: [{ role: 'robot', content: 'x' }] })), /^malformed: request\.messages\.0\.role:/],
      ['a message without content', json(requestFrame({ messages: [{ role: 'user' }] })), /^malformed: request\.messages\.0\.content:/],
      ['numeric content', json(requestFrame({ messages: [{ role: 'user', content: 42 }] })), /^malformed: request\.messages\.0\.content:/],
      ['null content from a user', json(requestFrame({ messages: [{ role: 'user', content: null }] })), /^malformed: request\.messages\.0\.content: content may be null only/],
      ['a malformed tool call', json(requestFrame({ messages: [{ role: 'assistant', content: null, tool_calls: [{ id: 'c', type: 'function', function: { name: 'f' } }] }] })), /^malformed: request\.messages\.0\.tool_calls\.0\.function\.arguments:/],
      ['a tool of another type', json(requestFrame({ tools: [{ type: 'retrieval', function: { name: 'f' } }] })), /^malformed: request\.tools\.0\.type:/],
      ['a tool without a name', json(requestFrame({ tools: [{ type: 'function', function: {} }] })), /^malformed: request\.tools\.0\.function\.name:/],
      ['tool parameters not an object', json(requestFrame({ tools: [{ type: 'function', function: { name: 'f', parameters: 'x' } }] })), /^malformed: request\.tools\.0\.function\.parameters:/],
      ['a negative temperature', json(requestFrame({ temperature: -0.1 })), /^malformed: request\.temperature:/],
      ['temperature above 2', json(requestFrame({ temperature: 2.5 })), /^malformed: request\.temperature:/],
      ['a string temperature', json(requestFrame({ temperature: '0.5' })), /^malformed: request\.temperature:/],
      ['a null temperature', json(requestFrame({ temperature: null })), /^malformed: request\.temperature:/],
      ['max_tokens 0', json(requestFrame({ max_tokens: 0 })), /^malformed: request\.max_tokens:/],
      ['fractional max_tokens', json(requestFrame({ max_tokens: 1.5 })), /^malformed: request\.max_tokens:/],
      ['an empty model name', json(requestFrame({ model: '' })), /^malformed: request\.model:/],
      ['tier 3', json(requestFrame({ tier: 3 })), /^malformed: request\.tier:/],
      ['stop not a list', json(requestFrame({ stop: '\n' })), /^malformed: request\.stop:/],
      ['oversize', jsonOfSize(requestFrame(), MAX_REQUEST_FRAME_BYTES + 1), /^oversize: /]
    ]
    for (const [what, bytes, reason] of invalid) {
      it(`should reject ${what} with a clear reason`, () => {
        const decoded = decodeRequestFrame(bytes)
        assert.equal(decoded.ok, false)
        assert.match(decoded.ok ? '' : decoded.reason, reason)
      })
    }

    it('should accept a frame of exactly the size limit', () => {
      const decoded = decodeRequestFrame(jsonOfSize(requestFrame(), MAX_REQUEST_FRAME_BYTES))
      assert.equal(decoded.ok, true)
    })
  })

  describe('validateRequest and encodeRequestFrame', () => {
    it('should name the failing field under request.', () => {
      const checked = validateRequest({ messages: [{ role: 'user', content: 'hi' }], temperature: 9 })
      assert.equal(checked.ok, false)
      assert.match(checked.ok ? '' : checked.reason, /^malformed: request\.temperature:/)
    })

    it('should refuse to encode a request over the frame limit', () => {
      const content = 'x'.repeat(MAX_REQUEST_FRAME_BYTES)
      assert.throws(() => encodeRequestFrame({ id: 'x', request: { messages: [{ role: 'user', content }] } }), RangeError)
    })
  })

  describe('decodeResponseFrame', () => {
    const valid: Array<[string, ResponseFrame]> = [
      ['a delta', { type: 'delta', content: 'Hel' }],
      ['an empty delta', { type: 'delta', content: '' }],
      ['a done trailer', DONE],
      ['a done trailer without served_by', { ...DONE, served_by: undefined }],
      ['a done trailer with cached prompt tokens (issue 23)', { ...DONE, usage: { prompt_tokens: 3, completion_tokens: 1, prompt_tokens_details: { cached_tokens: 2 } } }],
      ['a done trailer reporting a cache miss (0 cached)', { ...DONE, usage: { prompt_tokens: 3, completion_tokens: 1, prompt_tokens_details: { cached_tokens: 0 } } }],
      ['a done trailer with tool calls', { ...DONE, message: { role: 'assistant', content: null, tool_calls: [TOOL_CALL as any] }, finish_reason: 'tool_calls' }],
      ['an error trailer', { type: 'error', code: 'busy', message: 'queue full', retryable: true }],
      ['an error trailer with a code from a newer peer', { type: 'error', code: 'quota', message: 'over quota', retryable: false }]
    ]
    for (const [what, frame] of valid) {
      it(`should accept ${what}`, () => {
        const decoded = decodeResponseFrame(encodeResponseFrame(frame))
        assert.equal(decoded.ok, true, decoded.ok ? '' : decoded.reason)
        assert.deepEqual(decoded.ok && decoded.value, JSON.parse(JSON.stringify(frame)))
      })
    }

    const invalid: Array<[string, Uint8Array, RegExp]> = [
      ['not JSON', utf8('delta'), /^malformed: not UTF-8 JSON/],
      ['no type', json({ content: 'x' }), /^malformed: type:/],
      ['an unknown type', json({ type: 'progress', content: 'x' }), /^malformed: type:/],
      ['a delta without content', json({ type: 'delta' }), /^malformed: content:/],
      ['a done trailer without usage', json({ ...DONE, usage: undefined }), /^malformed: usage:/],
      ['negative usage', json({ ...DONE, usage: { prompt_tokens: -1, completion_tokens: 0 } }), /^malformed: usage\.prompt_tokens:/],
      ['negative cached tokens', json({ ...DONE, usage: { prompt_tokens: 3, completion_tokens: 0, prompt_tokens_details: { cached_tokens: -1 } } }), /^malformed: usage\.prompt_tokens_details\.cached_tokens:/],
      ['cached tokens as text', json({ ...DONE, usage: { prompt_tokens: 3, completion_tokens: 0, prompt_tokens_details: { cached_tokens: '2' } } }), /^malformed: usage\.prompt_tokens_details\.cached_tokens:/],
      ['an unknown finish_reason', json({ ...DONE, finish_reason: 'eos' }), /^malformed: finish_reason:/],
      ['a non-assistant message', json({ ...DONE, message: { role: 'user', content: 'x' } }), /^malformed: message\.role:/],
      ['an error without retryable', json({ type: 'error', code: 'busy', message: 'x' }), /^malformed: retryable:/],
      ['an error with an empty code', json({ type: 'error', code: '', message: 'x', retryable: true }), /^malformed: code:/],
      ['oversize', jsonOfSize({ type: 'delta', content: 'x' }, MAX_RESPONSE_FRAME_BYTES + 1), /^oversize: /]
    ]
    for (const [what, bytes, reason] of invalid) {
      it(`should reject ${what} with a clear reason`, () => {
        const decoded = decodeResponseFrame(bytes)
        assert.equal(decoded.ok, false)
        assert.match(decoded.ok ? '' : decoded.reason, reason)
      })
    }

    it('should truncate a long error message when encoding', () => {
      const bytes = encodeResponseFrame({ type: 'error', code: 'internal', message: 'e'.repeat(10_000), retryable: false })
      const decoded = decodeResponseFrame(bytes)
      assert.ok(decoded.ok && decoded.value.type === 'error')
      assert.equal(decoded.value.message.length, MAX_ERROR_MESSAGE_CHARS)
    })

    it('should give back the CompletionResult of a done trailer without wire-only fields', () => {
      assert.deepEqual(resultOf(DONE), { message: DONE.message, finish_reason: 'stop', model: 'tiny', usage: DONE.usage })
    })

    it('should carry the cached prompt tokens from trailer to result', () => {
      const usage = { prompt_tokens: 1_233, completion_tokens: 16, prompt_tokens_details: { cached_tokens: 1_180 } }
      const decoded = decodeResponseFrame(encodeResponseFrame({ ...DONE, usage }))
      assert.ok(decoded.ok && decoded.value.type === 'done')
      assert.deepEqual(resultOf(decoded.value).usage, usage)
    })

    it('should drop unknown usage details rather than fail (a newer peer may report more)', () => {
      const decoded = decodeResponseFrame(json({ ...DONE, usage: { prompt_tokens: 3, completion_tokens: 1, prompt_tokens_details: { cached_tokens: 2, audio_tokens: 0 } } }))
      assert.ok(decoded.ok && decoded.value.type === 'done')
      assert.deepEqual(decoded.value.usage, { prompt_tokens: 3, completion_tokens: 1, prompt_tokens_details: { cached_tokens: 2 } })
    })
  })
})
