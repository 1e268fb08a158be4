import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { getLlama, LlamaChat, readGgufFileInfo } from 'node-llama-cpp'
import { readGgufHeader } from '../../src/backends/gguf-writer.js'
import { ensureTinyModel, TINY_MODEL_NAME, writeTinyGguf } from '../../src/backends/tiny-gguf.js'

// 3 global tensors (token_embd, output_norm, output) + 9 per block x 2 blocks.
const TENSOR_COUNT = 21

describe('tiny GGUF model', () => {
  let dir: string

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'harombe-tiny-'))
  })

  afterEach(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('should write byte-identical files on every run', async () => {
    await writeTinyGguf(join(dir, 'a.gguf'))
    await writeTinyGguf(join(dir, 'b.gguf'))
    const [a, b] = await Promise.all([readFile(join(dir, 'a.gguf')), readFile(join(dir, 'b.gguf'))])
    assert.ok(a.byteLength > 400_000 && a.byteLength < 800_000, `unexpected size ${a.byteLength}`)
    assert.ok(a.equals(b), 'two writes differ')
  })

  it('should write a GGUF v3 header that parses back', async () => {
    const file = join(dir, 'm.gguf')
    await writeTinyGguf(file)
    const bytes = await readFile(file)
    // Decoded by hand here, independently of readGgufHeader.
    assert.equal(bytes.subarray(0, 4).toString('latin1'), 'GGUF')
    assert.equal(bytes.readUInt32LE(4), 3)
    assert.equal(bytes.readBigUInt64LE(8), BigInt(TENSOR_COUNT))
    const header = readGgufHeader(bytes)
    assert.deepEqual(header, { version: 3, tensorCount: TENSOR_COUNT, metadataCount: Number(bytes.readBigUInt64LE(16)) })
    assert.equal(readGgufHeader(Buffer.from('not a model at all, just text')), undefined)
  })

  it('should hold the metadata and tensors llama.cpp needs (per node-llama-cpp\'s own parser)', async () => {
    const file = join(dir, 'm.gguf')
    await writeTinyGguf(file)
    const info = await readGgufFileInfo(file)
    const meta = info.metadata as any
    assert.equal(info.version, 3)
    assert.equal(meta.general.architecture, 'llama')
    assert.equal(meta.general.name, TINY_MODEL_NAME)
    assert.equal(meta.llama.embedding_length, 64)
    assert.equal(meta.llama.block_count, 2)
    const tokens: string[] = meta.tokenizer.ggml.tokens
    assert.ok(tokens.length >= 400 && tokens.length <= 500, `vocabulary size ${tokens.length}`)
    assert.equal(new Set(tokens).size, tokens.length, 'tokens must be unique')
    for (const t of ['<unk>', '<s>', '</s>', '<|im_start|>', '<|im_end|>', '<0x00>', '<0xFF>', '\u2581the', '\u2581mesh']) {
      assert.ok(tokens.includes(t), `missing token ${t}`)
    }
    assert.match(meta.tokenizer.chat_template, /<\|im_start\|>/)
    assert.equal(info.tensorInfo?.length, TENSOR_COUNT)
    assert.ok(info.tensorInfo?.some(t => t.name === 'blk.1.ffn_down.weight'))
  })

  it('should create the model in <dataDir>/models once and replace it only when it differs', async () => {
    const file = await ensureTinyModel(dir)
    assert.equal(file, join(dir, 'models', `${TINY_MODEL_NAME}.gguf`))
    const good = await readFile(file)
    const first = await stat(file)

    assert.equal(await ensureTinyModel(dir), file)
    assert.equal((await stat(file)).ino, first.ino, 'an intact file was rewritten')

    // Same size, one byte flipped: only the hash can tell.
    const flipped = Buffer.from(good)
    const last = flipped.byteLength - 1
    flipped.writeUInt8(flipped.readUInt8(last) ^ 0xff, last)
    await writeFile(file, flipped)
    await ensureTinyModel(dir)
    assert.ok((await readFile(file)).equals(good), 'a corrupted file (same size) was not replaced')

    await writeFile(file, good.subarray(0, 1000))
    await ensureTinyModel(dir)
    assert.ok((await readFile(file)).equals(good), 'a truncated file was not replaced')
  })

  it('should load in node-llama-cpp and generate vocabulary words until max tokens', async () => {
    const file = join(dir, 'm.gguf')
    await writeTinyGguf(file)
    const llama = await getLlama({ gpu: false, build: 'never', maxThreads: 2 })
    const model = await llama.loadModel({ modelPath: file })
    try {
      const context = await model.createContext({ sequences: 1, threads: 1, contextSize: 512 })
      const chat = new LlamaChat({ contextSequence: context.getSequence() })
      let tokens = 0
      const response = await chat.generateResponse(
        [{ type: 'user', text: 'hello mesh' }, { type: 'model', response: [] }],
        { maxTokens: 16, temperature: 0, onToken: t => { tokens += t.length } }
      )
      assert.equal(response.metadata.stopReason, 'maxTokens', 'the model must never end by itself')
      assert.equal(tokens, 16)
      // The bias channel keeps byte, control and character tokens out: only whole words.
      assert.match(response.response.trim(), /^[a-z]+( [a-z]+)+$/, `not readable words: ${JSON.stringify(response.response)}`)
    } finally {
      await model.dispose()
    }
  })
})
