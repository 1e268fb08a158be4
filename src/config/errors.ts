/**
 * One thing wrong with a config: where (`cluster.nodes[1].tier`, or '' for
 * the file as a whole), what, and the 1-based source line when known.
 */
export interface ConfigProblem {
  path: string
  message: string
  line?: number
}

export interface ConfigErrorOptions {
  /** The file the problems were found in; prefixes every line of the message */
  file?: string
  /** Warnings gathered before the failure, so a caller can still show them */
  warnings?: string[]
  cause?: unknown
}

/** `cluster.nodes[1].tier: expected 0, 1 or 2 (line 14)` */
export function formatProblem (problem: ConfigProblem): string {
  const where = problem.path === '' ? '' : `${problem.path}: `
  const line = problem.line === undefined ? '' : ` (line ${problem.line})`
  return `${where}${problem.message}${line}`
}

/**
 * A config file (or resolved peer options) could not be used. Thrown once
 * with every problem found, so the user fixes the file in one pass rather
 * than one error per run.
 */
export class ConfigError extends Error {
  static name = 'ConfigError'
  name = ConfigError.name
  readonly problems: ConfigProblem[]
  readonly file?: string
  readonly warnings: string[]

  constructor (problems: ConfigProblem[], options: ConfigErrorOptions = {}) {
    const prefix = options.file === undefined ? '' : `${options.file}: `
    super(problems.map(problem => prefix + formatProblem(problem)).join('\n'), { cause: options.cause })
    this.problems = problems
    this.file = options.file
    this.warnings = options.warnings ?? []
  }
}
