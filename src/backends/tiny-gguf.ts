// `harombe-tiny`: a ~0.55 MB llama-architecture GGUF written by us, so the embedded backend has
// a model on machines that cannot download one. Random (seeded) weights: it prints readable
// vocabulary words in no meaningful order. Good for tests, demos and benchmarks, not for answers.
import { createHash, randomBytes } from 'node:crypto'
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { GgufWriter } from './gguf-writer.js'
import { mulberry32 } from '../util/prng.js'

export const TINY_MODEL_NAME = 'harombe-tiny'

/** The hyper-parameters that differ between the generated models; everything else is shared. */
export interface ModelShape {
  name: string
  nEmbd: number
  blocks: number
  heads: number
  nFf: number
  contextLength: number
}

// Shape from the GGUF notes' spike: loads in ~20 ms and generates well over 1,000 tokens/s on one core.
export const TINY_SHAPE: Readonly<ModelShape> = Object.freeze({ name: TINY_MODEL_NAME, nEmbd: 64, blocks: 2, heads: 4, nFf: 128, contextLength: 2048 })

export const HEAVY_MODEL_NAME = 'harombe-heavy'
/**
 * For prompt-cache work (GGUF-NOTES "A heavier model"): ~110 MB of F32, and prompt evaluation
 * costs real time on two cores (~1,000 tokens/s), so a warm prefix is visible in timing. Never
 * the default; tests and benchmarks generate it. The context holds several ~1,200-token turns.
 */
export const HEAVY_SHAPE: Readonly<ModelShape> = Object.freeze({ name: HEAVY_MODEL_NAME, nEmbd: 512, blocks: 8, heads: 4, nFf: 1536, contextLength: 8192 })

/** Fixed seed: the file must be byte-identical on every run and machine. */
const SEED = 0x68617262

// The bias-channel trick: the last embedding channel holds the same constant for every token,
// so after RMS norm the final hidden state is dominated by a nearly constant value there and
// that channel's row of `output.weight` acts as a per-token logit bias (~7.6 x the value below).
const BIAS_INPUT = 0.5
/** Ordinary words: preferred, so the output is readable words. */
const BIAS_WORD = 1
/**
 * Control, byte, unknown and character tokens: ~38 logits below any word, so never sampled; in
 * particular the model never emits an end-of-generation token (it stops on max_tokens, 'length').
 */
const BIAS_OTHER = -4
/** Random part of the embeddings; small next to BIAS_INPUT so the bias channel dominates the norm. */
const EMBD_SCALE = 0.05
/** Random part of the output rows: gives words logits spread by ~2, enough for varied sampling. */
const OUTPUT_SCALE = 1
/** Q/K/V, gate and up projections: mild, so attention and the FFN stay in a smooth range. */
const PROJ_SCALE = 0.1
/** Small attention/FFN outputs: the context nudges the next word without swamping the bias. */
const RESIDUAL_SCALE = 0.02

// llama.cpp token types.
const NORMAL = 1
const UNKNOWN = 2
const CONTROL = 3
const BYTE = 6

const CONTROL_TOKENS = ['<unk>', '<s>', '</s>', '<|im_start|>', '<|im_end|>']
const [UNK_ID, BOS_ID, EOS_ID, , IM_END_ID] = [0, 1, 2, 3, 4]
/** SentencePiece's word-boundary marker; `▁the` detokenizes to ` the`. */
const SPACE = '\u2581'

// Single characters, so prompts tokenize to characters rather than raw bytes. Never generated.
const CHARACTERS = [SPACE, ...'abcdefghijklmnopqrstuvwxyz.,?!\'"-:'.split('')]

const WORDS = (
  'the a an of to and in is it that for on with as was be by this are or from at have not but ' +
  'they we you he she his her their our your one all will can has there what so if about which ' +
  'when more no out up do time into some could them other than then now only its also new over ' +
  'first after two most way may these like any where just very well because good through each ' +
  'mesh peer node model token stream route gossip cluster network prompt answer question reply ' +
  'machine server client request message signal queue latency tier local remote fast slow small ' +
  'large tiny quiet bright river mountain forest ocean cloud light shadow stone garden window ' +
  'morning evening winter summer north south east west green blue red silver golden ancient ' +
  'gentle simple careful open closed running walking singing thinking learning building ' +
  'dream story world voice path bridge harbor lantern engine sparrow meadow'
).split(' ').map(w => SPACE + w)


interface Vocabulary {
  tokens: string[]
  scores: number[]
  types: number[]
  /** Per-token output bias (see BIAS_WORD / BIAS_OTHER). */
  bias: number[]
}

function vocabulary (): Vocabulary {
  const vocab: Vocabulary = { tokens: [], scores: [], types: [], bias: [] }
  const add = (token: string, type: number, score: number, bias: number): void => {
    vocab.tokens.push(token)
    vocab.types.push(type)
    vocab.scores.push(score)
    vocab.bias.push(bias)
  }
  CONTROL_TOKENS.forEach((t, i) => add(t, i === UNK_ID ? UNKNOWN : CONTROL, 0, BIAS_OTHER))
  for (let b = 0; b < 256; b++) add(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`, BYTE, 0, BIAS_OTHER)
  // SentencePiece merges by score: longer pieces score higher so whole words win over characters.
  CHARACTERS.forEach(c => add(c, NORMAL, -1000, BIAS_OTHER))
  WORDS.forEach((w, i) => add(w, NORMAL, -i, BIAS_WORD))
  if (new Set(vocab.tokens).size !== vocab.tokens.length) throw new Error('tiny model vocabulary has a duplicate token')
  return vocab
}

// ChatML, the template node-llama-cpp recognises and renders with its ChatML wrapper.
const CHAT_TEMPLATE =
  "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}" +
  "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"

/** The complete tiny model file, deterministic: same bytes on every call. */
export function tinyModelBytes (): Uint8Array {
  return llamaModelBytes(TINY_SHAPE)
}

/** A generated model of the given shape, deterministic: same bytes on every call. */
export function llamaModelBytes (shape: Readonly<ModelShape>): Uint8Array {
  const { nEmbd, blocks, heads, nFf } = shape
  const biasChannel = nEmbd - 1
  const vocab = vocabulary()
  const nVocab = vocab.tokens.length
  const random = mulberry32(SEED)
  const uniform = (scale: number): number => (random() * 2 - 1) * scale
  const matrix = (count: number, scale: number): Float32Array => Float32Array.from({ length: count }, () => uniform(scale))
  const ones = (count: number): Float32Array => new Float32Array(count).fill(1)
  // Blocks must not see the bias channel: it is the same for every token, so through the
  // projections it would add one constant vector to every position and one word would win everywhere.
  const blockNorm = (): Float32Array => { const w = ones(nEmbd); w[biasChannel] = 0; return w }
  // One row of n_embd per token (ggml [n_embd, n_vocab]): random, with the bias channel set.
  const perToken = (scale: number, biasOf: (token: number) => number): Float32Array => {
    const data = matrix(nEmbd * nVocab, scale)
    for (let t = 0; t < nVocab; t++) data[t * nEmbd + biasChannel] = biasOf(t)
    return data
  }

  const gguf = new GgufWriter()
    .string('general.architecture', 'llama')
    .string('general.name', shape.name)
    .u32('general.file_type', 0) // all F32
    .u32('llama.context_length', shape.contextLength)
    .u32('llama.embedding_length', nEmbd)
    .u32('llama.block_count', blocks)
    .u32('llama.feed_forward_length', nFf)
    .u32('llama.attention.head_count', heads)
    .u32('llama.attention.head_count_kv', heads)
    .u32('llama.rope.dimension_count', nEmbd / heads)
    .f32('llama.attention.layer_norm_rms_epsilon', 1e-5)
    .string('tokenizer.ggml.model', 'llama')
    .stringArray('tokenizer.ggml.tokens', vocab.tokens)
    .f32Array('tokenizer.ggml.scores', vocab.scores)
    .i32Array('tokenizer.ggml.token_type', vocab.types)
    .u32('tokenizer.ggml.bos_token_id', BOS_ID)
    .u32('tokenizer.ggml.eos_token_id', EOS_ID)
    .u32('tokenizer.ggml.unknown_token_id', UNK_ID)
    // ChatML ends a turn with <|im_end|>; the bias keeps the model from ever choosing it.
    .u32('tokenizer.ggml.eot_token_id', IM_END_ID)
    .string('tokenizer.chat_template', CHAT_TEMPLATE)

  gguf.tensor('token_embd.weight', [nEmbd, nVocab], perToken(EMBD_SCALE, () => BIAS_INPUT))
  for (let i = 0; i < blocks; i++) {
    gguf
      .tensor(`blk.${i}.attn_norm.weight`, [nEmbd], blockNorm())
      .tensor(`blk.${i}.attn_q.weight`, [nEmbd, nEmbd], matrix(nEmbd * nEmbd, PROJ_SCALE))
      .tensor(`blk.${i}.attn_k.weight`, [nEmbd, nEmbd], matrix(nEmbd * nEmbd, PROJ_SCALE))
      .tensor(`blk.${i}.attn_v.weight`, [nEmbd, nEmbd], matrix(nEmbd * nEmbd, PROJ_SCALE))
      .tensor(`blk.${i}.attn_output.weight`, [nEmbd, nEmbd], matrix(nEmbd * nEmbd, RESIDUAL_SCALE))
      .tensor(`blk.${i}.ffn_norm.weight`, [nEmbd], blockNorm())
      .tensor(`blk.${i}.ffn_gate.weight`, [nEmbd, nFf], matrix(nEmbd * nFf, PROJ_SCALE))
      .tensor(`blk.${i}.ffn_up.weight`, [nEmbd, nFf], matrix(nEmbd * nFf, PROJ_SCALE))
      .tensor(`blk.${i}.ffn_down.weight`, [nFf, nEmbd], matrix(nFf * nEmbd, RESIDUAL_SCALE))
  }
  gguf
    .tensor('output_norm.weight', [nEmbd], ones(nEmbd))
    .tensor('output.weight', [nEmbd, nVocab], perToken(OUTPUT_SCALE, t => vocab.bias[t] as number))
  return gguf.toBytes()
}

/** Writes the model to `file` atomically: a unique temp file, then rename, so readers never see half a file. */
export async function writeTinyGguf (file: string): Promise<void> {
  await writeAtomically(file, tinyModelBytes())
}

/**
 * `<dataDir>/models/harombe-tiny.gguf`, written only when it is missing or differs (size, then
 * SHA-256) from what this version generates, so restarts reuse the file and upgrades replace it.
 */
export async function ensureTinyModel (dataDir: string): Promise<string> {
  return await ensureGeneratedModel(dataDir, TINY_SHAPE)
}

/** `<dataDir>/models/<shape.name>.gguf`, written only when missing or different (as ensureTinyModel). */
export async function ensureGeneratedModel (dataDir: string, shape: Readonly<ModelShape>): Promise<string> {
  const file = join(dataDir, 'models', `${shape.name}.gguf`)
  const expected = llamaModelBytes(shape)
  const size = await stat(file).then(s => s.size, () => -1)
  if (size === expected.byteLength && sha256(await readFile(file)) === sha256(expected)) return file
  await writeAtomically(file, expected)
  return file
}

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex')

async function writeAtomically (file: string, bytes: Uint8Array): Promise<void> {
  await mkdir(dirname(file), { recursive: true })
  // Unique per writer: two peers sharing a data dir may both decide to write at once.
  const temp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`
  try {
    await writeFile(temp, bytes)
    await rename(temp, file)
  } catch (err) {
    await rm(temp, { force: true })
    throw err
  }
}
