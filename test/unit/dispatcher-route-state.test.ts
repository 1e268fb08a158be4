import assert from 'node:assert/strict'
import { createDispatcher, type RouteState } from '../../src/completion/dispatcher.js'
import { UnavailableError } from '../../src/completion/errors.js'
import type { CompletionRequest, CompletionResult } from '../../src/completion/types.js'
import { DEFAULT_AFFINITY_CONFIG } from '../../src/routing/affinity-config.js'
import { createBreakers } from '../../src/routing/breaker.js'
import { createInFlight } from '../../src/routing/in-flight.js'
import { createPrefixIndex } from '../../src/routing/prefix-index.js'
import { promptPrint } from '../../src/routing/prompt-print.js'
import { DEFAULT_POLICY, type RouteCandidate } from '../../src/routing/router.js'
import { createLogger } from '../../src/log.js'

// The dispatcher keeps what routing learns (issue 23): a request counts as in flight from the
// moment it is sent until its attempt ends, however it ends, and a prompt becomes warm on a peer
// when that peer's first token arrives (not when it is sent, nor when it failed before).

const answer = (who: string): CompletionResult => ({ message: { role: 'assistant', content: who }, finish_reason: 'stop', model: 'm', usage: { prompt_tokens: 1, completion_tokens: 1 } })
const peer = (id: string): RouteCandidate => ({ id, name: id, models: ['m'], tier: 0, enabled: true, state: 'alive', load: { active: 0, queued: 0, capacity: 1 }, latencyMs: 1, via: 'mesh' })
const REQUEST: CompletionRequest = { model: 'm', messages: [{ role: 'system', content: 'You are a careful agent. '.repeat(40) }, { role: 'user', content: 'hi' }] }

function state (): RouteState {
  return { policy: 'affinity', inFlight: createInFlight(), index: createPrefixIndex(), config: DEFAULT_AFFINITY_CONFIG, random: () => 0.5 }
}

describe('dispatcher: route state', () => {
  it('should count an attempt in flight while it runs and release it when it fails, then when the next succeeds', async () => {
    const routeState = state()
    const seen: Array<Record<string, number>> = []
    let first = true
    const dispatcher = createDispatcher({
      selfId: 'self',
      candidates: () => [peer('b'), peer('c')],
      policy: DEFAULT_POLICY,
      breakers: createBreakers(),
      maxRetries: 2,
      firstTokenTimeoutMs: 5_000,
      routeState,
      run: async candidate => {
        seen.push(Object.fromEntries(routeState.inFlight.counts()))
        if (first) {
          first = false
          throw new UnavailableError(`${candidate.name} is down`)
        }
        return answer(candidate.id)
      }
    })
    const served = await dispatcher.complete(REQUEST, { signal: AbortSignal.timeout(5_000) })
    const failed = served.node.name === 'b' ? 'c' : 'b'
    assert.deepEqual(seen, [{ [failed]: 1 }, { [served.node.name]: 1 }], 'one at a time, the failed one released before the next')
    assert.equal(routeState.inFlight.counts().size, 0, 'nothing left in flight')
    const warm = routeState.index.lookup(promptPrint(REQUEST, DEFAULT_AFFINITY_CONFIG.blockChars), Date.now()).warm
    assert.deepEqual([...warm.keys()], [served.node.name], 'warm only where an answer came from')
  })

  it('should make a prompt warm at its first token, so a twin sent before it goes elsewhere', async () => {
    const routeState = state()
    let releaseFirst: (() => void) | undefined
    const dispatcher = createDispatcher({
      selfId: 'self',
      candidates: () => [peer('b'), peer('c')],
      policy: DEFAULT_POLICY,
      breakers: createBreakers(),
      maxRetries: 0,
      firstTokenTimeoutMs: 5_000,
      routeState,
      run: async (candidate, _request, options) => {
        if (releaseFirst == null) await new Promise<void>(resolve => { releaseFirst = resolve })
        options.onDelta?.({ content: candidate.id })
        return answer(candidate.id)
      }
    })
    const one = dispatcher.complete(REQUEST, { signal: AbortSignal.timeout(5_000), onDelta: () => {} })
    await new Promise(resolve => setImmediate(resolve))
    const print = promptPrint(REQUEST, DEFAULT_AFFINITY_CONFIG.blockChars)
    assert.equal(routeState.index.lookup(print, Date.now()).warm.size, 0, 'not warm while the prompt is still being evaluated')
    const two = dispatcher.complete(REQUEST, { signal: AbortSignal.timeout(5_000), onDelta: () => {} })
    releaseFirst?.()
    const [a, b] = await Promise.all([one, two])
    assert.notEqual(a.node.name, b.node.name, 'the twin went to the idle peer')
    assert.equal(routeState.index.lookup(print, Date.now()).warm.size, 2, 'warm on both once they answered')
  })

  it('should log each attempt\'s peer and reason at debug level (--log-level debug)', async () => {
    const lines: string[] = []
    const logger = createLogger({ level: 'debug', json: true, stream: { write: (line: string) => { lines.push(line) } } as unknown as NodeJS.WritableStream })
    const routeState = state()
    const dispatcher = createDispatcher({
      selfId: 'self',
      candidates: () => [peer('b'), peer('c')],
      policy: DEFAULT_POLICY,
      breakers: createBreakers(),
      maxRetries: 0,
      firstTokenTimeoutMs: 5_000,
      routeState,
      logger,
      run: async candidate => answer(candidate.id)
    })
    const served = await dispatcher.complete(REQUEST, { signal: AbortSignal.timeout(5_000) })
    const again = await dispatcher.complete(REQUEST, { signal: AbortSignal.timeout(5_000) })
    const messages = lines.map(l => JSON.parse(l) as { level: number, msg: string }).filter(l => l.level === 20).map(l => l.msg)
    assert.equal(messages.length, 2, messages.join('\n'))
    assert.match(messages[0] ?? '', new RegExp(`^routing to ${served.node.name}: rendezvous on system prompt`))
    assert.match(messages[1] ?? '', new RegExp(`^routing to ${again.node.name}: prefix [\\d,]+ of [\\d,]+ chars warm on ${served.node.name}`))
  })
})
