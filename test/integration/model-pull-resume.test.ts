import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { PullEvent } from '../../src/sharing/events.js'
import { scanShareRoots } from '../../src/sharing/scan.js'
import { CHUNK, SIZE, createSharingMesh } from '../helpers/sharing-peers.js'
import { ndjson, postJson } from '../helpers/cluster.js'

// Issue 16: an interrupted pull resumes from the chunks it verified; `--into-ollama` writes Ollama's
// layout; the HTTP endpoints list files and holders, and pull with NDJSON progress.

describe('model pulls: resume, Ollama store, HTTP (issue 16)', function () {
  this.timeout(120_000)
  const mesh = createSharingMesh()
  afterEach(async () => { await mesh.stop() })
  const sha256Of = async (path: string): Promise<string> => createHash('sha256').update(await readFile(path)).digest('hex')

  it('should resume an interrupted pull from its verified chunks', async () => {
    const [, , c] = await mesh.startThree({ rateBytesPerSecond: 6_000_000 })
    const stop = new AbortController()
    await assert.rejects(c.peer.sharing()?.pull('shared-model', {
      signal: stop.signal,
      onEvent: e => { if (e.type === 'progress' && e.bytes >= SIZE / 2) stop.abort(new Error('interrupted')) }
    }) ?? Promise.resolve(), /interrupted/)
    const partial = join(c.modelsDir, 'shared-model.gguf.partial')
    assert.equal((await stat(partial)).size, SIZE, 'the partial file stays')

    const events: PullEvent[] = []
    const done = await c.peer.sharing()?.pull('shared-model', { signal: AbortSignal.timeout(60_000), onEvent: e => events.push(e) })
    const start = events.find((e): e is Extract<PullEvent, { type: 'start' }> => e.type === 'start')
    assert.ok(start != null && start.resumed_chunks >= 10, `resumed ${start?.resumed_chunks} chunks`)
    // Chunks are fetched out of order, so the short last chunk (SIZE % CHUNK bytes) may be among the resumed ones
    const lastChunkBytes = SIZE % CHUNK
    assert.ok(done?.resumed_bytes === start.resumed_chunks * CHUNK || done?.resumed_bytes === (start.resumed_chunks - 1) * CHUNK + lastChunkBytes,
      `resumed ${String(done?.resumed_bytes)} bytes in ${start.resumed_chunks} chunks`)
    // The second run fetched only what the first had not verified: ≤ 55 % of the file.
    assert.ok((done?.transferred ?? SIZE) <= SIZE * 0.55, `transferred ${done?.transferred} of ${SIZE}`)
    assert.equal(await sha256Of(done?.path ?? ''), mesh.sha())
  })

  it('should add a pulled model to a fake Ollama store that then lists it', async () => {
    const [, , c] = await mesh.startThree()
    const ollama = await mkdtemp(join(tmpdir(), 'harombe-ollama-'))
    try {
      const done = await c.peer.sharing()?.pull(mesh.sha().slice(0, 16), { signal: AbortSignal.timeout(60_000), intoOllama: ollama })
      assert.equal(done?.ollama?.manifest, join(ollama, 'manifests', 'registry.ollama.ai', 'library', 'shared-model', 'latest'))
      assert.equal(await sha256Of(done?.ollama?.blob ?? ''), mesh.sha())
      const listed = await scanShareRoots([{ dir: ollama, kind: 'ollama' }], AbortSignal.timeout(5_000))
      assert.deepEqual(listed.map(f => f.name), ['shared-model:latest'])
    } finally {
      await rm(ollama, { recursive: true, force: true })
    }
  })

  it('should list files and holders and pull over HTTP with NDJSON events', async () => {
    const [a, , c] = await mesh.startThree()
    const api = c.peer.info().apiUrl
    const own = await (await fetch(`${a.peer.info().apiUrl}/api/models/files`)).json() as any
    assert.deepEqual(own.files.map((f: any) => [f.name, f.sha256, f.size]), [['shared-model', mesh.sha(), SIZE]])
    const holders = await (await fetch(`${api}/api/models/holders`)).json() as any
    assert.deepEqual(holders.files.map((f: any) => [f.name, f.holders.map((h: any) => h.name).sort()]), [['shared-model', ['a', 'b']]])

    const res = await postJson(`${api}/api/models/pull`, { model: 'shared-model' }, { timeoutMs: 60_000 })
    assert.equal(res.status, 200)
    const events = ndjson(await res.text())
    assert.deepEqual([events[0].type, events.at(-1).type], ['found', 'done'])
    assert.equal(events.at(-1).sha256, mesh.sha())
    const pulls = await (await fetch(`${api}/api/models/pulls`)).json() as any
    assert.equal(pulls.pulls[0].last.type, 'done')

    const none = await postJson(`${api}/api/models/pull`, { model: 'nothing-like-it' })
    const last = ndjson(await none.text()).at(-1)
    assert.equal(last.type, 'error')
    assert.equal(last.code, 'no_holder')
    assert.match(last.message, /asked a, b|asked b, a/)
    const bad = await postJson(`${api}/api/models/pull`, { model: '' })
    assert.equal(bad.status, 400)
  })
})
