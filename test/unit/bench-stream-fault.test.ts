import assert from 'node:assert/strict'
import { streamFault } from '../../scripts/bench/stream-fault.js'
import { SYNTHETIC_TOKEN_CHARS } from '../../src/backends/synthetic.js'

describe('bench: streamFault (the stream part counts only whole answers)', () => {
  const whole = { ok: true, tokens: 100, chars: 100 * SYNTHETIC_TOKEN_CHARS, node: 'serve-a' }
  const cases: Array<{ what: string, outcome: Parameters<typeof streamFault>[0], servedBy?: string, fault: string | undefined }> = [
    { what: 'a whole answer from the expected peer', outcome: whole, servedBy: 'serve-a', fault: undefined },
    { what: 'a whole answer from the direct server (no peer expected)', outcome: { ...whole, node: undefined }, fault: undefined },
    { what: 'a failed stream', outcome: { ...whole, ok: false, error: 'stream ended without [DONE]' }, fault: 'stream ended without [DONE]' },
    { what: 'a stream cut at a peer\'s token cap', outcome: { ...whole, tokens: 64, chars: 64 * SYNTHETIC_TOKEN_CHARS }, fault: '64 tokens instead of 100' },
    { what: 'text lost with the count right', outcome: { ...whole, chars: 396 }, fault: `396 characters instead of ${100 * SYNTHETIC_TOKEN_CHARS}` },
    { what: 'an answer from another peer', outcome: { ...whole, node: 'serve-c' }, servedBy: 'serve-a', fault: 'served by serve-c instead of serve-a' }
  ]
  for (const c of cases) {
    it(`should judge ${c.what}`, () => {
      assert.equal(streamFault(c.outcome, 100, c.servedBy), c.fault)
    })
  }
})
