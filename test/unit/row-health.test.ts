import assert from 'node:assert/strict'
import { rowHealth, type HealthInput, type RowHealth } from '../../src/cli/status-rows.js'

// Issue 27: one rule for `status` (exit code), `test` and `models`. A node listed or announced with
// a model it does not serve right now is a problem, named with its reason; one that left on
// purpose is not.

const DOWN = { models: ['qwen2.5:3b'], reason: 'backend down: ollama backend at http://127.0.0.1:11434: connection refused' }

const row = (fields: Partial<HealthInput>): HealthInput => ({ enabled: true, state: 'alive', reason: 'in the mesh', models: ['m'], unserved: null, ...fields })

describe('rowHealth', () => {
  const cases: Array<{ title: string, row: HealthInput, expected: RowHealth }> = [
    { title: 'an alive peer serving its models', row: row({ peer: { state: 'alive' } }), expected: { code: 'ok' } },
    { title: 'a listed node serving what the file says', row: row({ peer: { state: 'alive' }, node: { models: ['m'] } }), expected: { code: 'ok' } },
    { title: 'a listed node whose file name lacks the tag it serves under', row: row({ models: ['llama3:latest'], peer: { state: 'alive' }, node: { models: ['llama3'] } }), expected: { code: 'ok' } },
    { title: 'a routing-only peer (no model, none announced missing)', row: row({ models: [], peer: { state: 'alive' } }), expected: { code: 'ok' } },
    { title: 'a peer that left on purpose', row: row({ state: 'left', reason: 'left the cluster' }), expected: { code: 'skipped', reason: 'left the cluster' } },
    { title: 'a disabled node', row: row({ enabled: false, state: 'disabled' }), expected: { code: 'skipped', reason: 'disabled' } },
    { title: 'a disabled peer that is dead', row: row({ enabled: false, state: 'dead' }), expected: { code: 'skipped', reason: 'disabled' } },
    { title: 'a listed node not checked yet', row: row({ state: 'checking' }), expected: { code: 'skipped', reason: 'first check under way' } },
    { title: 'a suspect peer', row: row({ state: 'suspect', reason: 'no ack' }), expected: { code: 'down', reason: 'no ack' } },
    { title: 'a dead peer', row: row({ state: 'dead', reason: 'connection closed' }), expected: { code: 'down', reason: 'connection closed' } },
    { title: 'an unreachable node', row: row({ state: 'unreachable', reason: 'ECONNREFUSED' }), expected: { code: 'down', reason: 'ECONNREFUSED' } },
    {
      title: 'a listed node whose backend is down (it announces why)',
      row: row({ models: [], unserved: DOWN, peer: { state: 'alive' }, node: { models: ['qwen2.5:3b'] } }),
      expected: { code: 'unserved', ...DOWN }
    },
    {
      title: 'an unlisted peer announcing its backend down',
      row: row({ models: [], unserved: DOWN, peer: { state: 'alive' } }),
      expected: { code: 'unserved', ...DOWN }
    },
    {
      title: 'a peer whose backend lists nothing (no configured model)',
      row: row({ models: [], unserved: { models: [], reason: 'ollama backend at http://x lists no model' }, peer: { state: 'alive' } }),
      expected: { code: 'unserved', models: [], reason: 'ollama backend at http://x lists no model' }
    },
    {
      title: 'a listed node serving another model than the file says, announcing nothing missing',
      row: row({ models: ['other'], peer: { state: 'alive' }, node: { models: ['qwen2.5:3b', 'other'] } }),
      expected: { code: 'unserved', models: ['qwen2.5:3b'], reason: 'serves other instead' }
    },
    {
      title: 'a listed node serving nothing, announcing nothing (an older peer)',
      row: row({ models: [], peer: { state: 'alive' }, node: { models: ['qwen2.5:3b'] } }),
      expected: { code: 'unserved', models: ['qwen2.5:3b'], reason: 'serves no model' }
    },
    {
      title: 'a node reached over HTTP only (what it serves is not known: its file models stand)',
      row: row({ state: 'reachable', models: ['qwen2.5:3b'], node: { models: ['qwen2.5:3b'] } }),
      expected: { code: 'ok' }
    }
  ]
  for (const c of cases) {
    it(`should be ${c.expected.code} for ${c.title}`, () => {
      assert.deepEqual(rowHealth(c.row), c.expected)
    })
  }
})
