import assert from 'node:assert/strict'
import { rendezvousScore } from '../../src/routing/affinity.js'
import { hashText, promptPrint } from '../../src/routing/prompt-print.js'
import type { CompletionRequest } from '../../src/completion/types.js'

// Every peer must compute the same prints and rendezvous scores (entry peers that never talked
// pick the same peer), across versions too: these values were recorded from the implementation
// before the one-pass rewrite (commit 88ff002) and pin the hash, the rendering and the anchor.
const LONG = 'abcdefghij'.repeat(70) // 700 chars: two whole blocks of 256 and part of a third

const rows: Array<{ what: string, request: CompletionRequest, print: object }> = [
  {
    what: 'system prompt anchor',
    request: { model: 'm', messages: [{ role: 'system', content: 'You are helpful. ' + LONG }, { role: 'user', content: 'hi ' + LONG }] },
    print: { blocks: [7548882753335971, 8258777396789844, 7969149587099596, 2896096537936924, 1698383677527220], chars: 1434, anchor: 6944837920148648, anchorKind: 'system prompt' }
  },
  {
    what: 'first message anchor, model auto, non-ASCII',
    request: { model: 'auto', messages: [{ role: 'user', content: 'first ' + LONG }, { role: 'assistant', content: 'ok' }, { role: 'user', content: 'é ü ' + LONG }] },
    print: { blocks: [6527870321260456, 7509273853462413, 4784654212362932, 8210418238566682, 291005243253769], chars: 1435, anchor: 1929824734147565, anchorKind: 'first message' }
  },
  {
    what: 'tools, tool calls and a tool call id',
    request: {
      model: 'm',
      tools: [{ type: 'function', function: { name: 'f', parameters: {} } }],
      messages: [{ role: 'user', content: LONG, tool_call_id: 'c1' }, { role: 'assistant', content: null, tool_calls: [{ id: 'c1', type: 'function', function: { name: 'f', arguments: '{}' } }] }]
    } as unknown as CompletionRequest,
    print: { blocks: [6124651275988642, 987007270151535, 5626158242121715], chars: 861, anchor: 3005272798289427, anchorKind: 'system prompt' }
  },
  {
    what: 'session key',
    request: { model: 'm', affinity_key: 'session-1', messages: [{ role: 'system', content: LONG }, { role: 'user', content: 'x' }] },
    print: { blocks: [6218102618544932, 4179027300589280], chars: 715, anchor: 5991009954498376, anchorKind: 'session key', key: 5991009954498376 }
  }
]

describe('prompt print golden values', () => {
  for (const row of rows) {
    it(`should print as before: ${row.what}`, () => {
      assert.deepEqual({ ...promptPrint(row.request, 256) }, row.print)
    })
  }
  it('should hash text and score rendezvous as before', () => {
    assert.equal(hashText('12D3KooWabc'), 8140297811886683)
    assert.equal(rendezvousScore(12345, 'id-a'), 3625823047611327)
    assert.equal(rendezvousScore(2 ** 40 + 3, 'id-b'), 1105739100410460)
  })
})
