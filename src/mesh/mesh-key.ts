import { readFile, writeFile } from 'node:fs/promises'
import { generateKey } from '@libp2p/pnet'

/** A missing or malformed `--mesh-key` file. */
export class MeshKeyError extends Error {
  static name = 'MeshKeyError'
  name = MeshKeyError.name
}

// The pnet v1 format that @libp2p/pnet (and go-libp2p's swarm.key) reads.
const PSK_V1 = /^\/key\/swarm\/psk\/1\.0\.0\/\r?\n\/base16\/\r?\n[0-9a-fA-F]{64}\s*$/

/** Reads and checks a mesh key up front, so a bad file fails at start, not as a dial that hangs. */
export async function readMeshKey (file: string): Promise<Uint8Array> {
  let bytes: Buffer
  try {
    bytes = await readFile(file)
  } catch (err: any) {
    throw new MeshKeyError(`cannot read mesh key ${file}: ${err?.code === 'ENOENT' ? 'no such file' : err?.message}`)
  }
  if (!PSK_V1.test(bytes.toString('utf8'))) {
    throw new MeshKeyError(`mesh key ${file} is not a libp2p private network key (create one with \`harombe-peer init\`)`)
  }
  return new Uint8Array(bytes)
}

/** Writes a fresh random key, readable by the owner only. */
export async function writeMeshKey (file: string, options: { overwrite: boolean }): Promise<void> {
  const key = new Uint8Array(95)
  generateKey(key)
  await writeFile(file, key, { mode: 0o600, flag: options.overwrite ? 'w' : 'wx' })
}
