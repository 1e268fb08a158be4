// One embedded backend on the generated heavy model, one conversation of three turns that share a
// ~1,200-token system prompt: per-turn wall time and the prompt tokens the backend reports as
// cached. Compares the embedded prompt cache with `--no-prompt-cache` (a clean slate per request).
//
//   npx tsx scripts/prompt-cache-turns.ts [--no-prompt-cache] [--src <dir>] [--data-dir <dir>] [--words 175] [--max-tokens 16] [--temperature 0.8]
//
// `--src` points at another checkout's src/ (its backends/embedded.ts is imported), so code from
// before a change can be measured side by side with the same script and model.
import { mkdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import { ensureGeneratedModel, HEAVY_SHAPE } from '../src/backends/tiny-gguf.js'
import type { Backend, ChatMessage } from '../src/completion/types.js'
import { mulberry32 } from '../src/util/prng.js'

const { values } = parseArgs({
  options: {
    'no-prompt-cache': { type: 'boolean', default: false },
    src: { type: 'string' },
    'data-dir': { type: 'string', default: join(tmpdir(), 'harombe-prompt-cache-turns') },
    words: { type: 'string', default: '175' },
    'max-tokens': { type: 'string', default: '16' },
    // Greedy decoding on the heavy model often ends a turn at once (an empty answer); sampled
    // answers make the turns grow as a conversation does.
    temperature: { type: 'string', default: '0.8' }
  }
})

/** Words of the generated vocabulary: each tokenizes to a few tokens (GGUF-NOTES: ~4 per word). */
const WORDS = 'mesh peer node model token stream route gossip cluster network prompt answer question reply machine server client request message signal queue latency tier local remote fast slow small large river mountain forest ocean cloud light shadow stone garden window'.split(' ')

function words (count: number, seed: number): string {
  const next = mulberry32(seed)
  return Array.from({ length: count }, () => WORDS[Math.floor(next() * WORDS.length)]).join(' ')
}

const dataDir = values['data-dir']
mkdirSync(dataDir, { recursive: true })
const modelFile = await ensureGeneratedModel(dataDir, HEAVY_SHAPE)
const src = values.src != null ? resolve(values.src) : resolve(import.meta.dirname, '../src')
const embedded = await import(pathToFileURL(join(src, 'backends/embedded.ts')).href) as typeof import('../src/backends/embedded.js')
const init: Record<string, unknown> = { modelFile, sequences: 2, contextSize: 4096 }
if (values['no-prompt-cache'] === true) init.promptCache = false
const backend: Backend = await embedded.createEmbeddedBackend(init as any)

const messages: ChatMessage[] = [{ role: 'system', content: words(Number(values.words), 1) }]
try {
  for (let turn = 1; turn <= 3; turn++) {
    messages.push({ role: 'user', content: words(12, 100 + turn) })
    const started = performance.now()
    const result = await backend.complete(
      { model: HEAVY_SHAPE.name, messages, max_tokens: Number(values['max-tokens']), temperature: Number(values.temperature) },
      { signal: AbortSignal.timeout(120_000) })
    const ms = performance.now() - started
    messages.push({ role: 'assistant', content: result.message.content })
    const cached = result.usage.prompt_tokens_details?.cached_tokens
    process.stdout.write(`turn ${turn}: ${Math.round(ms)} ms, prompt ${result.usage.prompt_tokens} tokens, cached ${cached ?? 'n/a'}, answer ${result.usage.completion_tokens} tokens\n`)
  }
} finally {
  await backend.close()
}
