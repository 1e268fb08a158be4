import assert from 'node:assert/strict'
import { createEmbedDispatcher } from '../../src/embeddings/dispatcher.js'
import { EmbeddingRefusedError } from '../../src/embeddings/errors.js'
import { BadRequestError, UnavailableError } from '../../src/completion/errors.js'
import { createBreakers } from '../../src/routing/breaker.js'
import { DEFAULT_POLICY, type RouteCandidate } from '../../src/routing/router.js'
import type { EmbeddingRequest } from '../../src/embeddings/types.js'

const peer = (name: string, tier: 0 | 1 | 2 = 0, models = ['m']): RouteCandidate => ({
  id: `id-${name}`, name, models, tier, enabled: true, state: 'alive', load: { active: 0, queued: 0, capacity: 1 }, via: 'mesh'
})
const request: EmbeddingRequest = { model: 'm', input: ['x'] }
const ok = (name: string) => ({ model: 'm', embeddings: [Float32Array.from([name.length])], prompt_tokens: 1 })

describe('embedding dispatcher', () => {
  type Outcome = 'ok' | 'refuse' | 'down' | 'bad'
  const cases: Array<{ what: string, peers: RouteCandidate[], outcomes: Record<string, Outcome>, served?: string, tried: string[], error?: { status: number, message: RegExp } }> = [
    { what: 'the first peer answers', peers: [peer('a'), peer('b')], outcomes: { a: 'ok', b: 'ok' }, served: 'a', tried: ['a'] },
    { what: 'a down peer fails over', peers: [peer('a'), peer('b')], outcomes: { a: 'down', b: 'ok' }, served: 'b', tried: ['a', 'b'] },
    { what: 'a refusal fails over', peers: [peer('a'), peer('b')], outcomes: { a: 'refuse', b: 'ok' }, served: 'b', tried: ['a', 'b'] },
    { what: 'a bad request is not retried', peers: [peer('a'), peer('b')], outcomes: { a: 'bad', b: 'ok' }, tried: ['a'], error: { status: 400, message: /bad input/ } },
    { what: 'all refusing is a 400 naming every peer and its reason', peers: [peer('a'), peer('b')], outcomes: { a: 'refuse', b: 'refuse' }, tried: ['a', 'b'], error: { status: 400, message: /peer a: openai at a cannot embed: 501; peer b: openai at b cannot embed: 501$/ } },
    { what: 'all down is a 503 naming every peer', peers: [peer('a'), peer('b')], outcomes: { a: 'down', b: 'down' }, tried: ['a', 'b'], error: { status: 503, message: /no peer could embed with "m" after 2 attempt\(s\): peer a: a is down; peer b: b is down$/ } },
    { what: 'a refusal and a down peer is a 503 naming both', peers: [peer('a'), peer('b')], outcomes: { a: 'refuse', b: 'down' }, tried: ['a', 'b'], error: { status: 503, message: /peer a: openai at a cannot embed: 501; peer b: b is down$/ } },
    { what: 'an unknown model is a 404', peers: [peer('a', 0, ['other'])], outcomes: {}, tried: [], error: { status: 404, message: /m/ } },
    { what: 'the requested tier goes first', peers: [peer('a', 0), peer('b', 1)], outcomes: { a: 'ok', b: 'ok' }, served: 'b', tried: ['b'] }
  ]
  for (const c of cases) {
    it(`should handle: ${c.what}`, async () => {
      const tried: string[] = []
      const service = createEmbedDispatcher({
        selfId: 'self',
        candidates: () => c.peers,
        policy: DEFAULT_POLICY,
        breakers: createBreakers(),
        maxRetries: 2,
        run: async candidate => {
          tried.push(candidate.name)
          const outcome = c.outcomes[candidate.name]
          if (outcome === 'refuse') throw new EmbeddingRefusedError(`openai at ${candidate.name} cannot embed: 501`)
          if (outcome === 'down') throw new UnavailableError(`${candidate.name} is down`)
          if (outcome === 'bad') throw new BadRequestError('bad input')
          return ok(candidate.name)
        }
      })
      const asked = c.what.includes('tier') ? { ...request, tier: 1 as const } : request
      const result = await service.embed(asked, { signal: new AbortController().signal }).then(r => r, (err: any) => err)
      assert.deepEqual(tried, c.tried)
      if (c.error != null) {
        assert.equal(result.status, c.error.status, result.message)
        assert.match(result.message, c.error.message)
      } else {
        assert.equal(result.node.name, c.served)
      }
    })
  }

  it('should name a peer that refused before with its remembered reason, beside the peers tried now', async () => {
    const tried: string[] = []
    let bDown = false
    const service = createEmbedDispatcher({
      selfId: 'self',
      candidates: () => [peer('a'), peer('b')],
      policy: DEFAULT_POLICY,
      breakers: createBreakers(),
      maxRetries: 2,
      run: async candidate => {
        tried.push(candidate.name)
        if (candidate.name === 'a') throw new EmbeddingRefusedError('llama-server at a: start it with --embeddings')
        if (bDown) throw new UnavailableError('b is down')
        return ok(candidate.name)
      }
    })
    const signal = new AbortController().signal
    await service.embed(request, { signal })
    bDown = true
    const err = await service.embed(request, { signal }).then(() => undefined, (e: any) => e)
    assert.deepEqual(tried, ['a', 'b', 'b'])
    assert.equal(err?.status, 503)
    assert.match(err?.message, /peer a: refused before \(llama-server at a: start it with --embeddings\); peer b: b is down$/)
  })

  it('should not ask a refusing peer again until its models change', async () => {
    let models = ['m']
    const tried: string[] = []
    const a = (): RouteCandidate => ({ ...peer('a'), models })
    const service = createEmbedDispatcher({
      selfId: 'self',
      candidates: () => [a(), peer('b')],
      policy: DEFAULT_POLICY,
      breakers: createBreakers(),
      maxRetries: 2,
      run: async candidate => {
        tried.push(candidate.name)
        if (candidate.name === 'a') throw new EmbeddingRefusedError('cannot embed')
        return ok(candidate.name)
      }
    })
    const signal = new AbortController().signal
    await service.embed(request, { signal })
    await service.embed(request, { signal })
    assert.deepEqual(tried, ['a', 'b', 'b'])
    models = ['m', 'n']
    await service.embed(request, { signal })
    assert.deepEqual(tried, ['a', 'b', 'b', 'a', 'b'])
  })
})
