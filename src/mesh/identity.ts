import { mkdir, readFile, writeFile, rename } from 'node:fs/promises'
import { join } from 'node:path'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'

export const IDENTITY_FILE = 'peer-key'

export class IdentityError extends Error {
  static name = 'IdentityError'
  name = IdentityError.name
}

/**
 * Loads the peer's Ed25519 key from `dataDir`, creating it on first start,
 * so the peer id stays the same across restarts (others recognise a re-join).
 */
export async function loadOrCreateIdentity (dataDir: string): Promise<PrivateKey> {
  const file = join(dataDir, IDENTITY_FILE)
  let bytes: Buffer | undefined
  try {
    bytes = await readFile(file)
  } catch (err: any) {
    if (err?.code !== 'ENOENT') throw new IdentityError(`cannot read identity key ${file}: ${err?.message ?? err}`)
  }
  if (bytes != null) {
    try {
      return privateKeyFromProtobuf(bytes)
    } catch (err: any) {
      throw new IdentityError(`identity key ${file} is corrupt (${err?.message ?? err}); move it away to create a new identity`)
    }
  }
  const key = await generateKeyPair('Ed25519')
  try {
    await mkdir(dataDir, { recursive: true, mode: 0o700 })
    // Write then rename, so a crash mid-write never leaves a half key that would change the peer id.
    const tmp = `${file}.${process.pid}.tmp`
    await writeFile(tmp, privateKeyToProtobuf(key), { mode: 0o600 })
    await rename(tmp, file)
  } catch (err: any) {
    throw new IdentityError(`cannot write identity key in ${dataDir}: ${err?.message ?? err}`)
  }
  return key
}
