import { homedir } from 'node:os'
import { isAbsolute, resolve } from 'node:path'

// Which backends a peer fronts, from `--backend` (repeatable) or the cluster file's `backends:`.
// Pure: text in, specs out, with errors that name the entry; nothing is contacted here.
//
// One backend is written `kind[=target][,option=value…]`:
//   ollama                                  Ollama at $OLLAMA_HOST, else http://127.0.0.1:11434
//   ollama=http://gpu:11434                 Ollama elsewhere
//   openai=http://127.0.0.1:8080/v1         any OpenAI-compatible server (llama-server, vLLM, LM Studio)
//   openai=http://127.0.0.1:8080/v1,capacity=8   … running 8 completions at once
//   embedded                                the bundled tiny model; embedded=~/models/x.gguf a real GGUF
//   none                                    no backend: a routing-only peer (alone only)
// Options: capacity=N (ollama, openai: completions at once; default: the server's /props slot
// count where it reports one, else 1 for Ollama, 4 for OpenAI-compatible), key_env=VAR (openai:
// the API key is in that environment variable).

export const BACKEND_KINDS = ['embedded', 'ollama', 'openai', 'none'] as const
export type BackendSpecKind = typeof BACKEND_KINDS[number]

/** A server found by detection carries the name users know it by; a configured one says its kind. */
export type ServerName = 'ollama' | 'llama-server' | 'lmstudio' | 'openai' | 'embedded'

export type BackendSpec =
  | { kind: 'ollama', url?: string, capacity?: number }
  | { kind: 'openai', url?: string, capacity?: number, key?: string, keyEnv?: string }
  | { kind: 'embedded', modelFile?: string }
  | { kind: 'none' }

/** Completions at once a user may ask of one backend: beyond any single server's slot count. */
export const MAX_BACKEND_CAPACITY = 1024

/** An entry that cannot be a backend; the message names what is wrong, the caller names where. */
export class BackendSpecError extends Error {
  static name = 'BackendSpecError'
  name = BackendSpecError.name
}

export interface ParseContext {
  /** For `~/…` in embedded paths. */
  home?: string
  /** Relative model files resolve against this (the cluster file's directory, or the working directory). */
  baseDir?: string
}

/** `openai=http://h:8080/v1,capacity=8` → `{kind: 'openai', url, capacity: 8}`. Throws BackendSpecError. */
export function parseBackendSpec (text: string, context: ParseContext = {}): BackendSpec {
  const [head = '', ...options] = text.trim().split(',')
  const eq = head.indexOf('=')
  const kind = (eq >= 0 ? head.slice(0, eq) : head).trim()
  const target = eq >= 0 ? head.slice(eq + 1).trim() : undefined
  if (!(BACKEND_KINDS as readonly string[]).includes(kind)) {
    throw new BackendSpecError(`expected embedded, ollama, openai or none, optionally =address (e.g. ollama=http://127.0.0.1:11434), got ${JSON.stringify(text)}`)
  }
  if (target === '') throw new BackendSpecError(`${JSON.stringify(text)}: nothing after "="`)
  const values: Record<string, string> = {}
  for (const option of options) {
    const at = option.indexOf('=')
    const key = at > 0 ? option.slice(0, at).trim() : option.trim()
    if (at <= 0 || !['capacity', 'key_env'].includes(key)) throw new BackendSpecError(`${JSON.stringify(text)}: unknown option "${option}" (expected capacity=N or key_env=VAR)`)
    values[key] = option.slice(at + 1).trim()
  }
  const capacity = values.capacity != null ? parseCapacity(values.capacity, text) : undefined
  switch (kind as BackendSpecKind) {
    case 'none':
      if (target != null || options.length > 0) throw new BackendSpecError(`${JSON.stringify(text)}: none takes no address or options`)
      return { kind: 'none' }
    case 'embedded':
      if (options.length > 0) throw new BackendSpecError(`${JSON.stringify(text)}: embedded takes a GGUF path only (embedded=~/models/x.gguf)`)
      return target != null ? { kind: 'embedded', modelFile: expandPath(target, context) } : { kind: 'embedded' }
    case 'ollama':
      if (values.key_env != null) throw new BackendSpecError(`${JSON.stringify(text)}: key_env applies to openai backends`)
      return { kind: 'ollama', ...(target != null ? { url: checkUrl(target, text) } : {}), ...(capacity != null ? { capacity } : {}) }
    case 'openai':
      if (values.key_env != null && !/^[A-Za-z_][A-Za-z0-9_]*$/.test(values.key_env)) throw new BackendSpecError(`${JSON.stringify(text)}: key_env must be an environment variable name`)
      return {
        kind: 'openai',
        ...(target != null ? { url: checkUrl(target, text) } : {}),
        ...(capacity != null ? { capacity } : {}),
        ...(values.key_env != null ? { keyEnv: values.key_env } : {})
      }
  }
}

function parseCapacity (value: string, text: string): number {
  const n = /^\d+$/.test(value) ? Number(value) : NaN
  if (!Number.isInteger(n) || n < 1 || n > MAX_BACKEND_CAPACITY) throw new BackendSpecError(`${JSON.stringify(text)}: capacity must be a whole number from 1 to ${MAX_BACKEND_CAPACITY}`)
  return n
}

function checkUrl (url: string, text: string): string {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    throw new BackendSpecError(`${JSON.stringify(text)}: ${JSON.stringify(url)} is not a URL (expected e.g. http://127.0.0.1:8080/v1)`)
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new BackendSpecError(`${JSON.stringify(text)}: expected an http(s) URL`)
  return url
}

function expandPath (path: string, context: ParseContext): string {
  const home = context.home ?? homedir()
  const expanded = path === '~' ? home : path.startsWith('~/') ? `${home}${path.slice(1)}` : path
  return isAbsolute(expanded) ? expanded : resolve(context.baseDir ?? process.cwd(), expanded)
}

/** The cluster file's long form of one backend (`{kind: openai, url: …, capacity: 8}`). */
export interface BackendEntryObject {
  kind: BackendSpecKind
  url?: string
  model_file?: string
  capacity?: number
  key_env?: string
}

/** A `backends:` item, string or mapping, as a spec (the schema has checked the mapping's types). */
export function backendEntrySpec (entry: string | BackendEntryObject, context: ParseContext = {}): BackendSpec {
  if (typeof entry === 'string') return parseBackendSpec(entry, context)
  const parts = [entry.kind + (entry.url != null ? `=${entry.url}` : entry.model_file != null ? `=${entry.model_file}` : '')]
  if (entry.url != null && entry.model_file != null) throw new BackendSpecError('set url (ollama, openai) or model_file (embedded), not both')
  if (entry.capacity != null) parts.push(`capacity=${entry.capacity}`)
  if (entry.key_env != null) parts.push(`key_env=${entry.key_env}`)
  return parseBackendSpec(parts.join(','), context)
}

/** `none` means no backend at all: beside another one it is a contradiction. */
export function checkSpecList (specs: readonly BackendSpec[]): string | undefined {
  if (specs.length > 1 && specs.some(s => s.kind === 'none')) return 'none (a routing-only peer) cannot be combined with other backends'
  return undefined
}
