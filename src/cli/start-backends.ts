import { homedir } from 'node:os'
import { dirname, resolve } from 'node:path'
import type { ClusterNode } from '../config/index.js'
import { backendEntrySpec, BackendSpecError, checkSpecList, parseBackendSpec, type BackendSpec } from '../backends/backend-spec.js'
import type { BackendPlan } from '../backends/build.js'
import { UsageError } from './errors.js'

// Which backends `start` builds: the `--backend` flags, else the node entry's `backends:` or
// `backend:`, else detection. Pure; the building is backends/build.ts.

export interface BackendFlags {
  /** `--backend`, repeatable. */
  backend?: string[]
  backendUrl?: string
  backendKey?: string
  modelFile?: string
}

export interface PlanContext {
  /** The cluster file, for messages and for paths relative to it. */
  file?: string
  /** This peer's entry in it. */
  entry?: ClusterNode
  /** The entry's key (backend_key, or the variable backend_key_env names), already looked up. */
  entryKey?: string
  env: Readonly<Record<string, string | undefined>>
  cwd?: string
  home?: string
}

export function planBackends (flags: BackendFlags, context: PlanContext): BackendPlan {
  const home = context.home ?? homedir()
  const cwd = context.cwd ?? process.cwd()
  const fileDir = context.file != null ? dirname(resolve(cwd, context.file)) : cwd
  const entry = context.entry
  const where = `${context.file ?? 'cluster file'}: node "${entry?.name ?? '?'}"`

  let specs: BackendSpec[]
  let single: { url?: string, modelFile?: string, key?: string } = {}
  if (flags.backend != null && flags.backend.length > 0) {
    specs = flags.backend.map(text => {
      try {
        return parseBackendSpec(text, { home, baseDir: cwd })
      } catch (err) {
        if (err instanceof BackendSpecError) throw new UsageError(`--backend: ${err.message}`)
        throw err
      }
    })
    single = { url: flags.backendUrl, modelFile: flags.modelFile != null ? resolve(cwd, flags.modelFile) : undefined, key: flags.backendKey }
  } else if (entry?.backends != null) {
    specs = entry.backends.map((item, i) => {
      try {
        return backendEntrySpec(item, { home, baseDir: fileDir })
      } catch (err) {
        if (err instanceof BackendSpecError) throw new UsageError(`${where}: backends[${i}]: ${err.message}`)
        throw err
      }
    })
    single = { url: flags.backendUrl, modelFile: flags.modelFile != null ? resolve(cwd, flags.modelFile) : undefined, key: flags.backendKey ?? context.entryKey }
  } else if (entry?.backend != null) {
    specs = [{ kind: entry.backend } as BackendSpec]
    single = {
      url: flags.backendUrl ?? entry.backend_url,
      modelFile: flags.modelFile != null ? resolve(cwd, flags.modelFile) : entry.model_file != null ? resolve(fileDir, entry.model_file) : undefined,
      key: flags.backendKey ?? context.entryKey
    }
  } else if (flags.modelFile != null || entry?.model_file != null) {
    // A GGUF and no backend: the embedded backend, as before detection existed.
    const modelFile = flags.modelFile != null ? resolve(cwd, flags.modelFile) : resolve(fileDir, entry?.model_file ?? '')
    return { mode: 'explicit', specs: [{ kind: 'embedded', modelFile }] }
  } else {
    if (flags.backendUrl != null) throw new UsageError('--backend-url needs --backend ollama or --backend openai (or write --backend openai=URL)')
    return { mode: 'detect' }
  }

  const problem = checkSpecList(specs)
  if (problem != null) throw new UsageError(flags.backend != null ? `--backend: ${problem}` : `${where}: backends: ${problem}`)
  return { mode: 'explicit', specs: applySingleKeys(specs, single, context.env) }
}

/**
 * `--backend-url`, `--model-file` and `--backend-key` (and the entry's single keys) fill in the
 * one backend that needs them. With several backends an address must be written on the backend
 * itself, so a stray `--backend-url` is an error rather than a guess.
 */
function applySingleKeys (specs: BackendSpec[], single: { url?: string, modelFile?: string, key?: string }, env: Readonly<Record<string, string | undefined>>): BackendSpec[] {
  const needingUrl = specs.filter(s => (s.kind === 'ollama' || s.kind === 'openai') && s.url == null)
  if (single.url != null && needingUrl.length !== 1) {
    throw new UsageError(needingUrl.length === 0
      ? '--backend-url: every backend already has its address (or none takes one)'
      : '--backend-url: several backends could take it; write each address on its backend (ollama=http://…, openai=http://…/v1)')
  }
  const needingFile = specs.filter(s => s.kind === 'embedded' && s.modelFile == null)
  return specs.map(spec => {
    switch (spec.kind) {
      case 'ollama':
        return single.url != null && spec.url == null ? { ...spec, url: single.url } : spec
      case 'openai': {
        const keyFromEnv = spec.keyEnv != null ? env[spec.keyEnv] : undefined
        if (spec.keyEnv != null && (keyFromEnv == null || keyFromEnv === '')) throw new UsageError(`openai backend: key_env names ${spec.keyEnv}, which is not set in this environment`)
        const key = keyFromEnv ?? single.key
        return { ...spec, ...(single.url != null && spec.url == null ? { url: single.url } : {}), ...(key != null ? { key } : {}) }
      }
      case 'embedded':
        return single.modelFile != null && spec.modelFile == null && needingFile.length === 1 ? { ...spec, modelFile: single.modelFile } : spec
      case 'none':
        return spec
    }
  })
}

/** For the ready line and `status`: what the peer fronts, in a few words. */
export function describePlan (plan: BackendPlan): string {
  if (plan.mode === 'detect') return 'detect'
  return plan.specs.map(s => s.kind === 'ollama' || s.kind === 'openai' ? `${s.kind}${s.url != null ? `=${s.url}` : ''}` : s.kind === 'embedded' ? `embedded${s.modelFile != null ? `=${s.modelFile}` : ''}` : s.kind).join(' ')
}
