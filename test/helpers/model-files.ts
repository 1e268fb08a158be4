import { createHash } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import { mulberry32 } from '../../src/util/prng.js'

/**
 * Writes a file that passes for a GGUF (the magic, then seeded pseudo-random bytes) of `size`
 * bytes; returns its sha256. Same seed, same bytes: two peers can hold "the same model".
 */
export async function writeFakeGguf (path: string, size: number, seed = 1): Promise<string> {
  const data = Buffer.allocUnsafe(size)
  const next = mulberry32(seed)
  for (let i = 0; i + 4 <= size; i += 4) data.writeUInt32LE((next() * 0x1_0000_0000) >>> 0, i)
  for (let i = size - (size % 4); i < size; i++) data[i] = 7
  data.write('GGUF', 0, 'latin1')
  await writeFile(path, data)
  return createHash('sha256').update(data).digest('hex')
}
