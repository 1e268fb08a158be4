import { createHash } from 'node:crypto'
import { copyFile, link, mkdir, rename, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { OLLAMA_MODEL_MEDIA_TYPE } from './scan.js'

// `pull --into-ollama`: Ollama's on-disk store, as `ollama list` reads it. A model is a manifest
// (`manifests/registry.ollama.ai/library/<model>/<tag>`) naming a config blob and a model layer
// blob, each stored as `blobs/sha256-<hex>`. No Ollama binary is needed to write one.

const MANIFEST_MEDIA_TYPE = 'application/vnd.docker.distribution.manifest.v2+json'
const CONFIG_MEDIA_TYPE = 'application/vnd.docker.container.image.v1+json'

/** `model:tag` split and normalised the way Ollama names models (lowercase; tag `latest` when absent). */
export function ollamaName (name: string): { model: string, tag: string } {
  const cleaned = name.toLowerCase().replace(/\.gguf$/, '')
  const at = cleaned.lastIndexOf(':')
  const model = (at > 0 ? cleaned.slice(0, at) : cleaned).replace(/[^a-z0-9._-]+/g, '-').replace(/^[-.]+|[-.]+$/g, '') || 'model'
  const tag = (at > 0 ? cleaned.slice(at + 1) : 'latest').replace(/[^a-z0-9._-]+/g, '-') || 'latest'
  return { model, tag }
}

export interface OllamaWrite {
  manifest: string
  blob: string
}

/**
 * Puts the verified GGUF at `source` (sha256 `sha256`) into the Ollama store at `ollamaDir`: the blob
 * as a hard link where possible (no second copy of a 40 GB file), else a copy; then a config blob
 * and the manifest, each written atomically.
 */
export async function writeIntoOllama (ollamaDir: string, name: string, source: string, sha256: string, size: number): Promise<OllamaWrite> {
  const { model, tag } = ollamaName(name)
  const blobs = join(ollamaDir, 'blobs')
  await mkdir(blobs, { recursive: true })
  const blob = join(blobs, `sha256-${sha256}`)
  if ((await stat(blob).catch(() => undefined))?.size !== size) {
    const tmp = `${blob}.tmp-${process.pid}`
    await link(source, tmp).catch(async () => { await copyFile(source, tmp) })
    await rename(tmp, blob)
  }
  const config = Buffer.from(JSON.stringify({ model_format: 'gguf', model_family: 'llama', model_type: '', file_type: '', rootfs: { type: 'layers', diff_ids: [`sha256:${sha256}`] } }))
  const configSha = createHash('sha256').update(config).digest('hex')
  await writeAtomically(join(blobs, `sha256-${configSha}`), config)
  const manifest = {
    schemaVersion: 2,
    mediaType: MANIFEST_MEDIA_TYPE,
    config: { mediaType: CONFIG_MEDIA_TYPE, digest: `sha256:${configSha}`, size: config.byteLength },
    layers: [{ mediaType: OLLAMA_MODEL_MEDIA_TYPE, digest: `sha256:${sha256}`, size }]
  }
  const dir = join(ollamaDir, 'manifests', 'registry.ollama.ai', 'library', model)
  await mkdir(dir, { recursive: true })
  const manifestPath = join(dir, tag)
  await writeAtomically(manifestPath, Buffer.from(JSON.stringify(manifest)))
  return { manifest: manifestPath, blob }
}

async function writeAtomically (path: string, data: Buffer): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`
  await writeFile(tmp, data)
  await rename(tmp, path)
}
