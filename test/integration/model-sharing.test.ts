import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { open, readFile, stat, symlink, utimes, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import * as lp from 'it-length-prefixed'
import { peerIdFromString } from '@libp2p/peer-id'
import { MODELS_PROTOCOL } from '../../src/sharing/constants.js'
import { fetchChunk, fetchChunkHashes } from '../../src/sharing/fetch.js'
import type { PullEvent } from '../../src/sharing/events.js'
import { decodeResponse } from '../../src/sharing/wire.js'
import { writeFakeGguf } from '../helpers/model-files.js'
import { CHUNK, MTIME_S, SIZE, createSharingMesh } from '../helpers/sharing-peers.js'

// Acceptance 1 of issue 16: three peers, a generated GGUF on two of them, pulled by the third.

describe('model sharing between three peers (issue 16)', function () {
  this.timeout(120_000)
  const mesh = createSharingMesh()
  const startThree = mesh.startThree
  let sha = ''
  afterEach(async () => { await mesh.stop() })

  const sha256Of = async (path: string): Promise<string> => createHash('sha256').update(await readFile(path)).digest('hex')

  it('should pull a byte-identical file with chunks from both holders', async () => {
    const [a, b, c] = await startThree()
    sha = mesh.sha()
    const events: PullEvent[] = []
    const done = await c.peer.sharing()?.pull('shared-model', { signal: AbortSignal.timeout(60_000), onEvent: e => events.push(e) })
    assert.ok(done != null)
    assert.equal(done.path, join(c.modelsDir, 'shared-model.gguf'))
    assert.equal(await sha256Of(done.path), sha, 'the pulled file is byte-identical')
    assert.equal((await stat(done.path)).size, SIZE)
    const byPeer = new Map(done.sources.map(s => [s.peer, s]))
    assert.ok((byPeer.get(a.id)?.chunks ?? 0) > 0, `a served no chunk: ${JSON.stringify(done.sources)}`)
    assert.ok((byPeer.get(b.id)?.chunks ?? 0) > 0, `b served no chunk: ${JSON.stringify(done.sources)}`)
    assert.equal(done.transferred, SIZE)
    assert.ok(events.some(e => e.type === 'found'), 'a found event')
    assert.ok(events.some(e => e.type === 'progress'), 'progress events')
    await assert.rejects(stat(`${done.path}.partial`), 'no partial file is left behind')
  })

  it('should finish from the other source when one is killed mid-pull', async () => {
    // 6 MB/s per holder: the pull takes ~2 s, long enough to kill b in the middle.
    const [a, b, c] = await startThree({ rateBytesPerSecond: 6_000_000 })
    sha = mesh.sha()
    let killed = false
    const killing: Array<Promise<void>> = []
    const done = await c.peer.sharing()?.pull(sha, {
      signal: AbortSignal.timeout(60_000),
      onEvent: e => {
        if (!killed && e.type === 'progress' && e.bytes > SIZE / 4) {
          killed = true
          killing.push(b.peer.crash())
        }
      }
    })
    await Promise.all(killing)
    assert.ok(killed, 'b was killed during the pull')
    assert.ok(done != null)
    assert.equal(await sha256Of(done.path), sha)
    const fromA = done.sources.find(s => s.peer === a.id)
    const fromB = done.sources.find(s => s.peer === b.id)
    assert.ok((fromB?.failures ?? 0) > 0, `b's death counts against it: ${JSON.stringify(fromB)}`)
    assert.ok((fromA?.bytes ?? 0) > SIZE / 2, `a finished the pull: ${JSON.stringify(done.sources)}`)
  })

  it('should drop a corrupted chunk, fetch it again elsewhere and penalise its source', async () => {
    const [a, b, c] = await startThree()
    sha = mesh.sha()
    // Bit rot on b's disk, in every chunk, keeping size and mtime: b still serves it as the file it
    // hashed. Whichever chunks b is asked for (it always gets some at the start), each is bad.
    const path = join(b.modelsDir, 'shared-model.gguf')
    const handle = await open(path, 'r+')
    for (let offset = 100; offset < SIZE; offset += CHUNK) await handle.write(Buffer.from('rotten'), 0, 6, offset)
    await handle.close()
    await utimes(path, MTIME_S, MTIME_S)
    const events: PullEvent[] = []
    const done = await c.peer.sharing()?.pull('shared-model.gguf', { signal: AbortSignal.timeout(60_000), onEvent: e => events.push(e) })
    assert.ok(done != null)
    assert.equal(await sha256Of(done.path), sha, 'no corrupted chunk reached the file')
    const penalties = events.filter((e): e is Extract<PullEvent, { type: 'penalised' }> => e.type === 'penalised')
    assert.ok(penalties.length >= 1, 'the bad chunk was detected')
    assert.ok(penalties.every(p => p.peer === b.id && /sha256/.test(p.reason)), `only b, only for bad hashes: ${JSON.stringify(penalties)}`)
    const fromB = done.sources.find(s => s.peer === b.id)
    const fromA = done.sources.find(s => s.peer === a.id)
    assert.equal(fromB?.mismatches, penalties.length)
    assert.equal(fromB?.bytes, 0, 'nothing from b was kept')
    assert.equal(fromB?.excluded, true, 'two bad chunks and b gets no more')
    assert.equal(fromA?.bytes, SIZE, 'a re-sent what b got wrong')
  })

  it('should refuse a request for a path, an unknown hash or a file outside the shared directories', async () => {
    const [a, , c] = await startThree()
    sha = mesh.sha()
    const node = c.peer.mesh()
    const peerA = peerIdFromString(a.id)
    // A GGUF next to the shared dir (in a's data dir, not shared) and a symlink to it inside the shared dir.
    const outside = join(a.dataDir, 'private.gguf')
    const privateSha = await writeFakeGguf(outside, 4096, 9)
    await symlink(outside, join(a.modelsDir, 'link-out.gguf'))
    await writeFile(join(a.modelsDir, 'not-a-model.gguf'), 'no magic here')
    await a.peer.sharing()?.catalogue.rescan()
    assert.deepEqual(a.peer.sharing()?.files().files.map(f => f.name), ['shared-model'], 'only the real GGUF inside the shared dir is listed')

    await assert.rejects(fetchChunkHashes(node, peerA, privateSha, { signal: AbortSignal.timeout(5_000) }), { name: 'NotSharedError' })
    await assert.rejects(fetchChunk(node, peerA, privateSha, 0, 4096, { signal: AbortSignal.timeout(5_000) }), { name: 'NotSharedError' })
    await assert.rejects(fetchChunk(node, peerA, 'ab'.repeat(32), 0, 1, { signal: AbortSignal.timeout(5_000) }), { name: 'NotSharedError' })

    // Raw frames a hostile peer could send: a path instead of a hash, and an extra path field.
    for (const request of [
      { type: 'chunk', sha256: '../../../etc/passwd', index: 0 },
      { type: 'chunk', sha256: sha, index: 0, path: '/etc/passwd' },
      { type: 'file', path: outside }
    ]) {
      const stream = await node.dialProtocol(peerA, MODELS_PROTOCOL, { signal: AbortSignal.timeout(5_000) })
      await stream.sink([lp.encode.single(new TextEncoder().encode(JSON.stringify(request)))])
      const first = await lp.decode(stream.source).next()
      assert.ok(first.done !== true)
      const answer = decodeResponse(first.value.subarray())
      assert.ok(answer.ok && answer.value.type === 'error' && answer.value.code === 'bad_request', `refused ${JSON.stringify(request)}: ${JSON.stringify(answer)}`)
    }
  })
})
