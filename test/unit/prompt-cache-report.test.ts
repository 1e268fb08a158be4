import assert from 'node:assert/strict'
import { promptCacheByPeer } from '../../src/completion/prompt-cache-stats.js'
import type { RequestRecord } from '../../src/completion/request-log.js'
import type { NodeRef } from '../../src/completion/service.js'
import type { Usage } from '../../src/completion/types.js'
import { promptEvalCount } from '../../src/http/ollama-routes.js'
import { openAIUsage } from '../../src/http/openai-routes.js'

// Issue 23: a prompt-cache hit is reported the same way everywhere a client or operator looks.

describe('prompt cache reporting', () => {
  describe('openAIUsage', () => {
    const cases: Array<{ what: string, usage: Usage, expected: Record<string, unknown> }> = [
      {
        what: 'a known hit: OpenAI\'s prompt_tokens_details.cached_tokens',
        usage: { prompt_tokens: 1233, completion_tokens: 16, prompt_tokens_details: { cached_tokens: 1180 } },
        expected: { prompt_tokens: 1233, completion_tokens: 16, total_tokens: 1249, prompt_tokens_details: { cached_tokens: 1180 } }
      },
      {
        what: 'a known miss stays a figure',
        usage: { prompt_tokens: 10, completion_tokens: 2, prompt_tokens_details: { cached_tokens: 0 } },
        expected: { prompt_tokens: 10, completion_tokens: 2, total_tokens: 12, prompt_tokens_details: { cached_tokens: 0 } }
      },
      {
        what: 'no figure from the backend: no details (not a claimed 0)',
        usage: { prompt_tokens: 10, completion_tokens: 2 },
        expected: { prompt_tokens: 10, completion_tokens: 2, total_tokens: 12 }
      }
    ]
    for (const c of cases) {
      it(`should answer ${c.what}`, () => { assert.deepEqual(openAIUsage(c.usage), c.expected) })
    }
  })

  describe('promptEvalCount (Ollama\'s meaning: tokens evaluated, cached ones not)', () => {
    const cases: Array<{ usage: Usage, expected: number }> = [
      { usage: { prompt_tokens: 1233, completion_tokens: 1, prompt_tokens_details: { cached_tokens: 1180 } }, expected: 53 },
      { usage: { prompt_tokens: 20, completion_tokens: 1, prompt_tokens_details: { cached_tokens: 0 } }, expected: 20 },
      { usage: { prompt_tokens: 20, completion_tokens: 1 }, expected: 20 },
      { usage: { prompt_tokens: 5, completion_tokens: 1, prompt_tokens_details: { cached_tokens: 9 } }, expected: 0 }
    ]
    for (const c of cases) {
      it(`should count ${c.expected} for ${JSON.stringify(c.usage)}`, () => { assert.equal(promptEvalCount(c.usage), c.expected) })
    }
  })

  describe('promptCacheByPeer', () => {
    const b: NodeRef = { name: 'b', peer_id: 'id-b', tier: 0 }
    const c: NodeRef = { name: 'c', peer_id: 'id-c', tier: 1 }
    type Rec = Pick<RequestRecord, 'outcome' | 'servedBy' | 'promptTokens' | 'cachedTokens'>
    const ok = (servedBy: NodeRef, promptTokens: number, cachedTokens?: number): Rec => ({ outcome: 'ok', servedBy, promptTokens, ...(cachedTokens != null ? { cachedTokens } : {}) })

    it('should sum hits, requests and tokens per serving peer, in order of first appearance', () => {
      assert.deepEqual(promptCacheByPeer([ok(c, 100, 0), ok(b, 1200, 0), ok(b, 1300, 1190), ok(c, 50, 40)]), [
        { node: c, requests: 2, hits: 1, promptTokens: 150, cachedTokens: 40 },
        { node: b, requests: 2, hits: 1, promptTokens: 2500, cachedTokens: 1190 }
      ])
    })

    it('should leave out answers without a cached figure, failures and unserved requests', () => {
      const records: Rec[] = [
        ok(b, 100),
        { outcome: 'error', servedBy: b, promptTokens: 10, cachedTokens: 10 },
        { outcome: 'aborted' },
        ok(c, 30, 20)
      ]
      assert.deepEqual(promptCacheByPeer(records), [{ node: c, requests: 1, hits: 1, promptTokens: 30, cachedTokens: 20 }])
    })

    it('should never count more cached than prompt tokens', () => {
      assert.deepEqual(promptCacheByPeer([ok(b, 10, 15)]), [{ node: b, requests: 1, hits: 1, promptTokens: 10, cachedTokens: 10 }])
    })

    it('should give nothing for no records', () => { assert.deepEqual(promptCacheByPeer([]), []) })
  })
})
