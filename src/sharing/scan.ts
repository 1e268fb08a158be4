import { open, readdir, readFile, realpath, stat } from 'node:fs/promises'
import { join, relative, isAbsolute, sep } from 'node:path'
import { MAX_SCAN_DEPTH } from './constants.js'

/** Where a shared file was found; Ollama blobs are named after their manifest, not their file. */
export type ShareKind = 'models-dir' | 'share-dir' | 'ollama'

export interface ShareRoot {
  dir: string
  kind: ShareKind
}

export interface FoundFile {
  /** Real path (symlinks resolved), always inside its root's real path. */
  path: string
  /** What users pull it by: the file name without `.gguf`, or `model:tag` for Ollama. */
  name: string
  size: number
  mtimeMs: number
  kind: ShareKind
}

const GGUF_MAGIC = 'GGUF'

/** Every GGUF file under `roots`; a root that does not exist is skipped, not an error. */
export async function scanShareRoots (roots: ShareRoot[], signal: AbortSignal): Promise<FoundFile[]> {
  const found = new Map<string, FoundFile>()
  for (const root of roots) {
    signal.throwIfAborted()
    const files = root.kind === 'ollama' ? await scanOllama(root.dir) : await scanDir(root, signal)
    // The same file under two roots (a share-dir inside the models dir) is listed once.
    for (const file of files) if (!found.has(file.path)) found.set(file.path, file)
  }
  return [...found.values()]
}

/** True when `path` is `root` or below it: the check that keeps serving inside the shared directories. */
export function isInside (root: string, path: string): boolean {
  const rel = relative(root, path)
  return rel === '' || (!rel.startsWith('..' + sep) && rel !== '..' && !isAbsolute(rel))
}

async function scanDir (root: ShareRoot, signal: AbortSignal): Promise<FoundFile[]> {
  const base = await realpath(root.dir).catch(() => undefined)
  if (base == null) return []
  const out: FoundFile[] = []
  const walk = async (dir: string, depth: number): Promise<void> => {
    signal.throwIfAborted()
    const entries = await readdir(dir, { withFileTypes: true }).catch(() => [])
    for (const entry of entries) {
      const full = join(dir, entry.name)
      if (entry.isDirectory() && depth < MAX_SCAN_DEPTH) await walk(full, depth + 1)
      if (!/\.gguf$/i.test(entry.name) || !(entry.isFile() || entry.isSymbolicLink())) continue
      const file = await sharedFile(base, full, entry.name.replace(/\.gguf$/i, ''), root.kind)
      if (file != null) out.push(file)
    }
  }
  await walk(base, 0)
  return out
}

/** A regular GGUF file whose real path stays inside `base` (a symlink pointing out is not shared). */
async function sharedFile (base: string, path: string, name: string, kind: ShareKind): Promise<FoundFile | undefined> {
  const real = await realpath(path).catch(() => undefined)
  if (real == null || !isInside(base, real)) return undefined
  const info = await stat(real).catch(() => undefined)
  if (info == null || !info.isFile() || !(await hasGgufMagic(real))) return undefined
  // Whole milliseconds: sub-millisecond digits are float noise once times pass through a copy or `touch`.
  return { path: real, name, size: info.size, mtimeMs: Math.floor(info.mtimeMs), kind }
}

async function hasGgufMagic (path: string): Promise<boolean> {
  const handle = await open(path, 'r').catch(() => undefined)
  if (handle == null) return false
  try {
    const buf = Buffer.alloc(4)
    const { bytesRead } = await handle.read(buf, 0, 4, 0)
    return bytesRead === 4 && buf.toString('latin1') === GGUF_MAGIC
  } finally {
    await handle.close()
  }
}

/**
 * Ollama's store: `manifests/<registry>/<namespace>/<model>/<tag>` (JSON) name the model layer
 * `sha256:<hex>`, kept as `blobs/sha256-<hex>`. Only model layers are shared, under `model:tag`.
 */
async function scanOllama (modelsDir: string): Promise<FoundFile[]> {
  const base = await realpath(modelsDir).catch(() => undefined)
  if (base == null) return []
  const manifests = join(base, 'manifests')
  const out: FoundFile[] = []
  const walk = async (dir: string, parts: string[]): Promise<void> => {
    const entries = await readdir(dir, { withFileTypes: true }).catch(() => [])
    for (const entry of entries) {
      const full = join(dir, entry.name)
      if (entry.isDirectory() && parts.length < 3) { await walk(full, [...parts, entry.name]); continue }
      if (!entry.isFile() || parts.length !== 3) continue
      const [registry, namespace, model] = parts as [string, string, string]
      const digest = await modelLayerDigest(full)
      if (digest == null) continue
      const name = `${registry === 'registry.ollama.ai' && namespace === 'library' ? '' : `${registry === 'registry.ollama.ai' ? '' : registry + '/'}${namespace}/`}${model}:${entry.name}`
      const file = await sharedFile(base, join(base, 'blobs', `sha256-${digest}`), name, 'ollama')
      if (file != null) out.push(file)
    }
  }
  await walk(manifests, [])
  return out
}

export const OLLAMA_MODEL_MEDIA_TYPE = 'application/vnd.ollama.image.model'

async function modelLayerDigest (manifestPath: string): Promise<string | undefined> {
  try {
    const text = await readFile(manifestPath, 'utf8')
    if (text.length > 64 * 1024) return undefined
    const manifest = JSON.parse(text) as { layers?: Array<{ mediaType?: unknown, digest?: unknown }> }
    const layer = manifest.layers?.find(l => l.mediaType === OLLAMA_MODEL_MEDIA_TYPE)
    const match = typeof layer?.digest === 'string' ? /^sha256:([0-9a-f]{64})$/.exec(layer.digest) : null
    return match?.[1]
  } catch {
    return undefined
  }
}
