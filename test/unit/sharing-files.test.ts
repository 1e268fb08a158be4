import assert from 'node:assert/strict'
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { catalogueTargets, isHashRef, pickHolding, type SharingMember } from '../../src/sharing/holders.js'
import { ollamaName, writeIntoOllama } from '../../src/sharing/ollama-layout.js'
import { isInside, scanShareRoots } from '../../src/sharing/scan.js'
import type { CatalogueFile } from '../../src/sharing/wire.js'
import { eventLine, formatEta, progressLine } from '../../src/cli/pull-progress.js'
import { byteRate } from '../../src/cli/start.js'
import { writeFakeGguf } from '../helpers/model-files.js'

const SHA_A = 'a'.repeat(64)
const SHA_B = 'b'.repeat(64)
const member = (name: string, files?: string[]): SharingMember => ({ peerId: `id-${name}`, name, load: 0, ...(files != null ? { files } : {}) })
const file = (name: string, sha256: string, size = 10): CatalogueFile => ({ name, sha256, size, kind: 'models-dir' })

describe('sharing: finding holders (pure)', () => {
  const members = [member('a', [SHA_A.slice(0, 16)]), member('b', [SHA_B.slice(0, 16)]), member('c')]
  const cases: Array<{ ref: string, expected: string[] }> = [
    { ref: SHA_A, expected: ['a'] },
    { ref: SHA_A.slice(0, 12), expected: ['a'] },
    { ref: 'some-model', expected: ['a', 'b'] },
    // Nobody announces it: everyone is asked (announcements lag, and they carry at most 32 files).
    { ref: 'c'.repeat(64), expected: ['a', 'b', 'c'] }
  ]
  for (const c of cases) {
    it(`should ask ${c.expected.join(', ')} for ${c.ref.slice(0, 16)}`, () => {
      assert.deepEqual(catalogueTargets(c.ref, members).map(m => m.name), c.expected)
    })
  }

  it('should tell hash refs from names', () => {
    assert.deepEqual(['abcdef012345', SHA_A, 'abc', 'qwen2.5:3b', 'deadbeefcafe-q4'].map(isHashRef), [true, true, false, false, false])
  })

  it('should pick the file most peers hold under a name, with all its holders', () => {
    const picked = pickHolding('model', [
      { member: member('a'), files: [file('model', SHA_A), file('other', SHA_B)] },
      { member: member('b'), files: [file('model.gguf', SHA_B, 20)] },
      { member: member('c'), files: [file('model', SHA_A)] }
    ])
    assert.equal(picked?.file.sha256, SHA_A)
    assert.deepEqual(picked?.holders.map(h => h.name), ['a', 'c'])
    assert.equal(pickHolding('absent', [{ member: member('a'), files: [file('model', SHA_A)] }]), undefined)
    assert.equal(pickHolding(SHA_B.slice(0, 20), [{ member: member('a'), files: [file('x', SHA_B)] }])?.file.name, 'x')
  })
})

describe('sharing: scanning shared directories and the Ollama layout', () => {
  let root: string
  beforeEach(async () => { root = await mkdtemp(join(tmpdir(), 'harombe-scan-')) })
  afterEach(async () => { await rm(root, { recursive: true, force: true }) })

  it('should list GGUF files inside the root only: no non-GGUF, no symlink pointing out', async () => {
    const shared = join(root, 'shared')
    await mkdir(join(shared, 'nested'), { recursive: true })
    await writeFakeGguf(join(shared, 'one.gguf'), 1000)
    await writeFakeGguf(join(shared, 'nested', 'two.GGUF'), 1000)
    await writeFile(join(shared, 'fake.gguf'), 'not a gguf')
    await writeFakeGguf(join(root, 'outside.gguf'), 1000)
    await symlink(join(root, 'outside.gguf'), join(shared, 'escape.gguf'))
    await symlink(join(shared, 'one.gguf'), join(shared, 'alias.gguf'))
    const found = await scanShareRoots([{ dir: shared, kind: 'share-dir' }, { dir: join(root, 'missing'), kind: 'models-dir' }], AbortSignal.timeout(5_000))
    // alias.gguf resolves to one.gguf, listed once (under whichever name the directory lists first).
    assert.deepEqual(found.map(f => f.path).sort(), [join(shared, 'nested', 'two.GGUF'), join(shared, 'one.gguf')])
    assert.ok(found.every(f => isInside(shared, f.path) && !['escape', 'fake'].includes(f.name)))
  })

  it('should write a model into a fake Ollama store the way Ollama lays it out, and read it back by name', async () => {
    const source = join(root, 'pulled.gguf')
    const sha = await writeFakeGguf(source, 5000)
    const ollama = join(root, 'ollama-models')
    const written = await writeIntoOllama(ollama, 'Tiny-Chat:Q4', source, sha, 5000)
    assert.equal(written.manifest, join(ollama, 'manifests', 'registry.ollama.ai', 'library', 'tiny-chat', 'q4'))
    assert.equal(written.blob, join(ollama, 'blobs', `sha256-${sha}`))
    const manifest = JSON.parse(await readFile(written.manifest, 'utf8'))
    assert.equal(manifest.schemaVersion, 2)
    assert.deepEqual(manifest.layers, [{ mediaType: 'application/vnd.ollama.image.model', digest: `sha256:${sha}`, size: 5000 }])
    // The config blob the manifest names exists and has the digest it claims.
    const configHex = String(manifest.config.digest).slice('sha256:'.length)
    const config = await readFile(join(ollama, 'blobs', `sha256-${configHex}`))
    assert.equal((await import('node:crypto')).createHash('sha256').update(config).digest('hex'), configHex)
    assert.deepEqual(await readFile(written.blob), await readFile(source))
    const found = await scanShareRoots([{ dir: ollama, kind: 'ollama' }], AbortSignal.timeout(5_000))
    assert.deepEqual(found.map(f => [f.name, f.kind, f.size]), [['tiny-chat:q4', 'ollama', 5000]])
  })

  it('should name models the way Ollama does', () => {
    assert.deepEqual(ollamaName('qwen2.5:3b'), { model: 'qwen2.5', tag: '3b' })
    assert.deepEqual(ollamaName('My Model.gguf'), { model: 'my-model', tag: 'latest' })
  })
})

describe('pull: progress and flags', () => {
  it('should draw a bar with bytes, rate, ETA and sources', () => {
    const line = progressLine({ type: 'progress', bytes: 50e6, total: 100e6, transferred: 50e6, rate: 25e6, eta_s: 2, sources: [{ peer: 'x', name: 'a', chunks: 3, bytes: 1, in_flight: 1, failures: 0, mismatches: 0, excluded: false }, { peer: 'y', name: 'b', chunks: 0, bytes: 0, in_flight: 0, failures: 3, mismatches: 0, excluded: true }] }, 100)
    assert.match(line, /^\[#+-+\]  50% 50\.0 MB \/ 100 MB {2}25\.0 MB\/s {2}ETA 00:02 {2}from a$/)
    assert.equal(formatEta(null), '--:--')
    assert.equal(formatEta(3725), '1:02:05')
  })
  it('should say where the file went and who sent it', () => {
    const line = eventLine({ type: 'done', path: '/m/x.gguf', name: 'x', sha256: SHA_A, size: 10e6, transferred: 10e6, resumed_bytes: 0, seconds: 2, sources: [{ peer: 'p', name: 'a', chunks: 2, bytes: 10e6, in_flight: 0, failures: 0, mismatches: 0, excluded: false }] })
    assert.equal(line, 'pulled x to /m/x.gguf: 10.0 MB in 2.0 s (5.0 MB/s), chunks from a 2')
  })
  it('should read --share-rate with K, M and G suffixes', () => {
    assert.deepEqual(['50M', '1.5G', '800k', '1000', 'fast'].map(byteRate), [50e6, 1.5e9, 800e3, 1000, 'fast'])
  })
})
