// Writes harombe-tiny, the offline test model (random weights, readable words, no meaning):
//   npx tsx scripts/make-tiny-gguf.ts [out.gguf]
import { stat } from 'node:fs/promises'
import { TINY_MODEL_NAME, writeTinyGguf } from '../src/backends/tiny-gguf.js'

const args = process.argv.slice(2)
if (args.includes('--help') || args.includes('-h') || args.length > 1) {
  console.error('usage: npx tsx scripts/make-tiny-gguf.ts [out.gguf]')
  process.exit(args.length > 1 ? 2 : 0)
}
const out = args[0] ?? `${TINY_MODEL_NAME}.gguf`
try {
  await writeTinyGguf(out)
  const { size } = await stat(out)
  console.log(`wrote ${out} (${size} bytes)`)
} catch (err) {
  console.error(`make-tiny-gguf: ${(err as Error).message}`)
  process.exitCode = 1
}
