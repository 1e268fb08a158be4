import assert from 'node:assert/strict'
import { decideModels, DOWN_AFTER_FAILED_CHECKS, modelNotServedMessage, sameModel, servedModels, unservedAfter, type Listing, type Unserved } from '../../src/backends/served-models.js'

const listed = (...models: string[]): Listing => ({ ok: true, models })
const down: Listing = { ok: false, reason: 'connect ECONNREFUSED 127.0.0.1:11434' }

describe('model honesty', () => {
  describe('decideModels', () => {
    const cases: Array<{ why: string, configured: string[], listing: Listing, previous?: string[], failed?: number, models: string[], missing: string[] }> = [
      { why: 'nothing configured: every listed model', configured: [], listing: listed('a', 'b'), models: ['a', 'b'], missing: [] },
      { why: 'nothing configured, a list with repeats', configured: [], listing: listed('a', 'a'), models: ['a'], missing: [] },
      { why: 'configured and listed', configured: ['qwen2.5:3b'], listing: listed('qwen2.5:3b', 'llama3:latest'), models: ['qwen2.5:3b'], missing: [] },
      { why: 'configured, the backend has something else', configured: ['qwen2.5:3b'], listing: listed('harombe-tiny'), models: [], missing: ['qwen2.5:3b'] },
      { why: 'two configured, one listed', configured: ['a', 'b'], listing: listed('b'), models: ['b'], missing: ['a'] },
      { why: 'a configured name without a tag, listed as :latest', configured: ['llama3'], listing: listed('llama3:latest'), models: ['llama3'], missing: [] },
      { why: 'a configured :latest, listed without a tag', configured: ['llama3:latest'], listing: listed('llama3'), models: ['llama3:latest'], missing: [] },
      { why: 'another tag is another model', configured: ['llama3:8b'], listing: listed('llama3:latest'), models: [], missing: ['llama3:8b'] },
      { why: 'a registry path with a port is not a tag', configured: ['host:5000/m'], listing: listed('host:5000/m:latest'), models: ['host:5000/m'], missing: [] },
      { why: 'the backend lists nothing', configured: [], listing: listed(), models: [], missing: [] },
      { why: 'backend down at start (nothing announced before)', configured: ['a'], listing: down, previous: [], failed: 1, models: [], missing: [] },
      { why: 'one failed check after it answered: keep what was announced', configured: ['a'], listing: down, previous: ['a'], failed: 1, models: ['a'], missing: [] },
      { why: 'down for good: announce nothing', configured: ['a'], listing: down, previous: ['a'], failed: DOWN_AFTER_FAILED_CHECKS, models: [], missing: [] },
      { why: 'a model removed from the backend (ollama rm)', configured: [], listing: listed('b'), previous: ['a', 'b'], models: ['b'], missing: [] },
      { why: 'a configured model removed from the backend', configured: ['a', 'b'], listing: listed('b'), previous: ['a', 'b'], models: ['b'], missing: ['a'] },
      { why: 'a backend that comes up after being down', configured: ['a'], listing: listed('a'), previous: [], failed: 0, models: ['a'], missing: [] }
    ]
    for (const c of cases) {
      it(`should decide for ${c.why}`, () => {
        assert.deepEqual(decideModels(c.configured, c.listing, c.previous ?? [], c.failed ?? 0), { models: c.models, missing: c.missing })
      })
    }
  })

  it('should treat servedModels and decideModels alike when the backend answers', () => {
    assert.deepEqual(servedModels(['x', 'y'], ['y']), decideModels(['x', 'y'], listed('y'), ['x'], 0))
  })

  it('should match names with and without the :latest tag, and nothing else', () => {
    assert.equal(sameModel('m', 'm:latest'), true)
    assert.equal(sameModel('m:latest', 'm'), true)
    assert.equal(sameModel('m:7b', 'm'), false)
    assert.equal(sameModel('M', 'm'), false)
  })

  // Issue 27: what a peer announces it should serve but does not, and why.
  describe('unservedAfter', () => {
    const ollama = { kind: 'ollama' as const, url: 'http://127.0.0.1:11434' }
    const refused: Listing = { ok: false, reason: 'ollama at http://127.0.0.1:11434 is unreachable (ECONNREFUSED)' }
    const cases: Array<{ title: string, configured: string[], listing: Listing, kept: string[], expected: Unserved | undefined }> = [
      { title: 'all configured models listed', configured: ['a'], listing: { ok: true, models: ['a', 'b'] }, kept: [], expected: undefined },
      { title: 'no configured model, the backend lists some', configured: [], listing: { ok: true, models: ['b'] }, kept: [], expected: undefined },
      { title: 'a configured model missing', configured: ['a', 'c'], listing: { ok: true, models: ['a'] }, kept: [], expected: { models: ['c'], reason: 'not listed by ollama backend at http://127.0.0.1:11434 (it has: a)' } },
      { title: 'the backend lists no model at all', configured: [], listing: { ok: true, models: [] }, kept: [], expected: { models: [], reason: 'ollama backend at http://127.0.0.1:11434 lists no model' } },
      { title: 'down, its message naming the server', configured: ['a'], listing: refused, kept: [], expected: { models: ['a'], reason: 'backend down: ollama at http://127.0.0.1:11434 is unreachable (ECONNREFUSED)' } },
      { title: 'down, a message not naming it', configured: [], listing: { ok: false, reason: 'timeout' }, kept: [], expected: { models: [], reason: 'backend down: ollama backend at http://127.0.0.1:11434: timeout' } },
      { title: 'one failed check while its models are still announced', configured: ['a'], listing: refused, kept: ['a'], expected: undefined }
    ]
    for (const c of cases) {
      it(`should give ${c.expected == null ? 'nothing' : JSON.stringify(c.expected.reason)} for ${c.title}`, () => {
        const decision = c.listing.ok ? servedModels(c.configured, c.listing.models) : { models: c.kept, missing: [] }
        assert.deepEqual(unservedAfter(c.configured, c.listing, decision, ollama), c.expected)
      })
    }
  })

  describe('modelNotServedMessage', () => {
    const cases: Array<{ why: string, args: Parameters<typeof modelNotServedMessage>, message: string }> = [
      {
        why: 'the issue\'s own example',
        args: ['my-macbook', ['qwen2.5:3b'], { kind: 'embedded' }, ['harombe-tiny']],
        message: 'my-macbook: model "qwen2.5:3b" is not served by the embedded backend (it has: harombe-tiny); set backend: ollama (or openai) for this node, point model_file at that model\'s GGUF, or pass --backend'
      },
      {
        why: 'two models missing on Ollama',
        args: ['pc', ['a', 'b'], { kind: 'ollama', url: 'http://127.0.0.1:11434' }, ['c']],
        message: 'pc: models "a", "b" are not served by the ollama backend at http://127.0.0.1:11434 (it has: c); pull it there (ollama pull a) or change the node\'s model'
      },
      {
        why: 'a server that lists nothing',
        args: ['gpu', ['big'], { kind: 'openai', url: 'http://127.0.0.1:8080/v1' }, []],
        message: 'gpu: model "big" is not served by the openai backend at http://127.0.0.1:8080/v1 (it lists no model); load it on that server or change the node\'s model'
      }
    ]
    for (const c of cases) {
      it(`should word ${c.why}`, () => {
        assert.equal(modelNotServedMessage(...c.args), c.message)
      })
    }
  })
})
