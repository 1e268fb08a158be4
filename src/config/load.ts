import { readFile } from 'node:fs/promises'
import { isAlias, isMap, isNode, isScalar, isSeq, LineCounter, parseDocument } from 'yaml'
import { ConfigError, formatProblem } from './errors.js'
import { MAX_CONFIG_CHARS } from './constants.js'
import { ClusterFileSchema, PeerOptionsSchema } from './schema.js'
import type { ConfigProblem } from './errors.js'
import type { ClusterConfig, PeerOptions } from './schema.js'
import type { Document } from 'yaml'
import type { z } from 'zod'

export interface ParsedClusterConfig {
  /** The `cluster:` section with defaults applied */
  config: ClusterConfig
  /** Non-fatal findings such as unknown keys, one formatted line each */
  warnings: string[]
}

export interface LoadOptions {
  signal?: AbortSignal
}

type PathKey = PropertyKey

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_-]*$/

/** `['cluster', 'nodes', 1, 'tier']` → `cluster.nodes[1].tier` */
export function formatPath (path: readonly PathKey[]): string {
  let out = ''
  for (const key of path) {
    if (typeof key === 'number') {
      out += `[${key}]`
    } else if (typeof key === 'string' && IDENTIFIER.test(key)) {
      out += out === '' ? key : `.${key}`
    } else {
      // Keys with spaces, dots or quotes stay unambiguous in brackets
      out += `[${JSON.stringify(String(key))}]`
    }
  }
  return out
}

/**
 * Parse the seed-shaped cluster YAML. Returns the `cluster:` section with
 * defaults applied, or throws one `ConfigError` listing every problem with its
 * path and line. Unknown keys are warnings, never errors.
 */
export function parseClusterConfig (text: string, file?: string): ParsedClusterConfig {
  if (text.length > MAX_CONFIG_CHARS) {
    throw new ConfigError([{ path: '', message: `the file has ${text.length} characters, over the ${MAX_CONFIG_CHARS}-character limit for a cluster file` }], { file })
  }
  const lineCounter = new LineCounter()
  // prettyErrors off: we put the line in our own format rather than yaml's. The core schema
  // without known tags keeps the data to JSON types even under `%YAML 1.1`: `!!binary`,
  // `!!set`, `!!omap` and timestamps would otherwise become Uint8Array, Set, Map and Date,
  // which the object schemas mistake for mappings with odd keys.
  // logLevel 'error': yaml's own warnings (collection keys) would go to the process's stderr.
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, schema: 'core', resolveKnownTags: false, logLevel: 'error' })
  const lineAt = (offset: number | undefined): number | undefined =>
    offset === undefined ? undefined : lineCounter.linePos(offset).line

  if (doc.errors.length > 0) {
    throw new ConfigError(doc.errors.map(err => ({
      path: '',
      message: `YAML syntax error: ${err.message}`,
      line: lineAt(err.pos[0])
    })), { file })
  }

  const warnings: ConfigProblem[] = doc.warnings.map(warning => ({
    path: '',
    message: `YAML warning: ${warning.message}`,
    line: lineAt(warning.pos[0])
  }))
  const fail = (problems: ConfigProblem[], cause?: unknown): ConfigError =>
    new ConfigError(byLine(problems), { file, warnings: formatWarnings(warnings, file), cause })

  if (doc.contents == null) {
    throw fail([{ path: '', message: 'the file is empty; expected a top-level `cluster:` mapping' }])
  }

  let data: unknown
  try {
    data = doc.toJS()
  } catch (err) {
    // e.g. too many alias expansions (a "billion laughs" document)
    throw fail([{ path: '', message: `YAML error: ${err instanceof Error ? err.message : String(err)}` }], err)
  }

  const lineOf = (path: readonly PathKey[]): number | undefined => lineAt(offsetOf(doc, path))
  const toProblems = (issues: readonly z.core.$ZodIssue[]): ConfigProblem[] => issues.map(issue => ({
    path: formatPath(issue.path),
    message: issue.message,
    line: lineOf(issue.path)
  }))

  const first = ClusterFileSchema.safeParse(data)
  if (first.success) {
    return { config: first.data.cluster, warnings: formatWarnings(warnings, file) }
  }

  // Strict objects report unknown keys as issues; they become warnings, and the
  // keys are dropped before a second parse so they cannot fail it
  const unknown: PathKey[][] = []
  const errors: z.core.$ZodIssue[] = []
  for (const issue of first.error.issues) {
    if (issue.code === 'unrecognized_keys') {
      unknown.push(...issue.keys.map(key => [...issue.path, key]))
    } else {
      errors.push(issue)
    }
  }
  warnings.push(...unknown.map(path => ({ path: formatPath(path), message: 'unknown key, ignored', line: lineOf(path) })))

  if (errors.length > 0) {
    throw fail(toProblems(errors))
  }

  for (const path of unknown) {
    deleteAt(data, path)
  }
  const second = ClusterFileSchema.safeParse(data)
  if (!second.success) {
    // Not expected: removing unknown keys cannot make a valid value invalid
    throw fail(toProblems(second.error.issues))
  }
  return { config: second.data.cluster, warnings: formatWarnings(warnings, file) }
}

// Zod reports in schema order; the user reads the file top to bottom. One value can fail two
// checks with the same message (an integer beyond 2^53 is both too big and unsafe): say it once
function byLine (problems: ConfigProblem[]): ConfigProblem[] {
  const seen = new Set<string>()
  return [...problems]
    .sort((a, b) => (a.line ?? 0) - (b.line ?? 0))
    .filter(problem => {
      const key = formatProblem(problem)
      if (seen.has(key)) return false
      seen.add(key)
      return true
    })
}

function formatWarnings (warnings: ConfigProblem[], file: string | undefined): string[] {
  const prefix = file === undefined ? '' : `${file}: `
  return byLine(warnings).map(warning => prefix + formatProblem(warning))
}

/** Read and parse a cluster YAML file; see `parseClusterConfig` */
export async function loadClusterConfig (file: string, options: LoadOptions = {}): Promise<ParsedClusterConfig> {
  let text: string
  try {
    text = await readFile(file, { encoding: 'utf8', signal: options.signal })
  } catch (err) {
    if ((err as Error | undefined)?.name === 'AbortError') {
      throw err
    }
    const reason = err instanceof Error ? err.message : String(err)
    throw new ConfigError([{ path: '', message: `cannot read the file: ${reason}` }], { file, cause: err })
  }
  return parseClusterConfig(text, file)
}

/**
 * Validate the merged start options, applying defaults. Problems are reported
 * with option names as paths (`apiPort: expected an integer from 0 to 65535`).
 */
export function parsePeerOptions (input: unknown): PeerOptions {
  const result = PeerOptionsSchema.safeParse(input)
  if (!result.success) {
    throw new ConfigError(result.error.issues.map(issue => ({ path: formatPath(issue.path), message: issue.message })))
  }
  return result.data
}

/**
 * Source offset for a path: the key of the deepest map entry or the deepest
 * list item that exists along it. A missing key thus points at the mapping
 * that lacks it, which is where the user has to add it.
 */
function offsetOf (doc: Document, path: readonly PathKey[]): number | undefined {
  let node: unknown = doc.contents
  let offset = isNode(node) ? node.range?.[0] : undefined
  for (const key of path) {
    if (isAlias(node)) {
      node = node.resolve(doc)
    }
    if (isMap(node)) {
      const pair = node.items.find(item => keyName(item.key) === String(key))
      if (pair === undefined) {
        break
      }
      offset = (isNode(pair.key) ? pair.key.range?.[0] : undefined) ?? offset
      node = pair.value
    } else if (isSeq(node) && typeof key === 'number') {
      const item = node.items[key]
      if (item === undefined) {
        break
      }
      offset = (isNode(item) ? item.range?.[0] : undefined) ?? offset
      node = item
    } else {
      break
    }
  }
  return offset
}

function keyName (key: unknown): string | undefined {
  if (isScalar(key)) {
    return String(key.value)
  }
  return typeof key === 'string' ? key : undefined
}

function deleteAt (data: unknown, path: readonly PathKey[]): void {
  let target: unknown = data
  for (const key of path.slice(0, -1)) {
    if (target === null || typeof target !== 'object') {
      return
    }
    target = (target as Record<PropertyKey, unknown>)[key]
  }
  const last = path.at(-1)
  if (target !== null && typeof target === 'object' && last !== undefined) {
    delete (target as Record<PropertyKey, unknown>)[last]
  }
}
