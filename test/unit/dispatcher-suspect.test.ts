import assert from 'node:assert/strict'
import { createDispatcher } from '../../src/completion/dispatcher.js'
import { createBreakers } from '../../src/routing/breaker.js'
import { DEFAULT_POLICY, type RouteCandidate } from '../../src/routing/router.js'
import type { MemberState } from '../../src/membership/types.js'
import type { CompletionResult } from '../../src/completion/types.js'

// A request waiting for its first token on a peer that turns suspect: given up on when another
// alive peer serves the model (a frozen peer must not hold it until its dead verdict), kept when
// the suspect is the only candidate (it may merely be slow; giving up would be a 503).

const answer = (who: string): CompletionResult => ({ message: { role: 'assistant', content: who }, finish_reason: 'stop', model: 'm', usage: { prompt_tokens: 1, completion_tokens: 1 } })

function peer (id: string, tier: 0 | 1 | 2, state: MemberState = 'alive', models = ['m']): RouteCandidate {
  return { id, name: id, models, tier, enabled: true, state, load: { active: 0, queued: 0, capacity: 1 }, via: 'mesh' }
}

describe('dispatcher: an attempt waiting on a peer that turns suspect', function () {
  this.timeout(10_000)

  async function run (others: RouteCandidate[]): Promise<{ servedBy: string, waitedMs: number }> {
    const frozen = peer('frozen', 2)
    const view = [frozen, ...others]
    const dispatcher = createDispatcher({
      selfId: 'self',
      candidates: () => view,
      policy: DEFAULT_POLICY,
      breakers: createBreakers(),
      maxRetries: 2,
      firstTokenTimeoutMs: 5_000,
      run: async (candidate, _request, options) => {
        if (candidate.id !== 'frozen') return answer(candidate.id)
        // Frozen: nothing comes back until the attempt is aborted, or it thaws after 600 ms.
        return await new Promise<CompletionResult>((resolve, reject) => {
          const thaw = setTimeout(() => { resolve(answer('frozen')) }, 600)
          options.signal.addEventListener('abort', () => { clearTimeout(thaw); reject(options.signal.reason) }, { once: true })
        })
      }
    })
    const started = Date.now()
    setTimeout(() => { view[0] = { ...frozen, state: 'suspect' } }, 50)
    const served = await dispatcher.complete({ model: 'm', tier: 2, messages: [{ role: 'user', content: 'hi' }] }, { signal: AbortSignal.timeout(5_000) })
    return { servedBy: served.node.name, waitedMs: Date.now() - started }
  }

  it('should move to another alive peer serving the model within about one check', async () => {
    const { servedBy, waitedMs } = await run([peer('live', 0)])
    assert.equal(servedBy, 'live')
    assert.ok(waitedMs < 500, `waited ${waitedMs} ms`)
  })

  it('should keep waiting when the suspect is the only peer serving the model', async () => {
    const { servedBy, waitedMs } = await run([peer('other', 0, 'alive', ['another-model'])])
    assert.equal(servedBy, 'frozen')
    assert.ok(waitedMs >= 550, `gave up after ${waitedMs} ms`)
  })
})
