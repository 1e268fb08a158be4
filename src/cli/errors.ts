/** Exit codes of every command (DESIGN: 0 ok, 1 operation failed, 2 usage or config error). */
export const EXIT_OK = 0
export const EXIT_FAILED = 1
export const EXIT_USAGE = 2

/** A command line that cannot be acted on: wrong flag value, missing argument. */
export class UsageError extends Error {
  static name = 'UsageError'
  name = UsageError.name
}

/** A feature that exists in the contract but not yet in this build. */
export class NotAvailableError extends Error {
  static name = 'NotAvailableError'
  name = NotAvailableError.name
}

/** An operation that ran and failed, with a message fit for the user. */
export class CommandFailedError extends Error {
  static name = 'CommandFailedError'
  name = CommandFailedError.name
}

const USAGE_ERRORS = new Set(['UsageError', 'ConfigError', 'NotAvailableError', 'CommanderError', 'MeshKeyError', 'ModelFileError', 'BackendConfigError', 'ModelNotServedError'])
/** Errors whose message is already a complete sentence for the user. */
const KNOWN_ERRORS = new Set([...USAGE_ERRORS, 'CommandFailedError', 'ApiError', 'IdentityError', 'ListenError', 'BootstrapUnreachableError'])

export function exitCodeFor (err: unknown): number {
  return USAGE_ERRORS.has((err as Error)?.name) ? EXIT_USAGE : EXIT_FAILED
}

/** One clear line (or the config error's list of problems); a stack only with `--debug`. */
export function describeError (err: unknown, debug: boolean): string {
  const e = err as Error
  if (debug && e?.stack != null) return e.stack
  if (KNOWN_ERRORS.has(e?.name)) return `harombe-peer: ${e.message}`
  // Some libraries put stacks inside messages: the first line is the message.
  const first = String(e?.message ?? err).split('\n')[0]
  return `harombe-peer: unexpected error: ${first} (run with --debug for details)`
}
