// One error class per failure kind. Each carries the wire code (mesh protocol `error` trailer),
// whether another peer might succeed (`retryable`), and the HTTP status the APIs answer with.

export type CompletionErrorCode =
  | 'bad_request' | 'unauthorized' | 'unknown_model' | 'busy' | 'no_peer' | 'unavailable' | 'timeout' | 'aborted' | 'internal'

export abstract class CompletionError extends Error {
  abstract readonly code: CompletionErrorCode
  abstract readonly retryable: boolean
  abstract readonly status: number
}

/** The request itself is wrong; no peer would accept it. */
export class BadRequestError extends CompletionError {
  static name = 'BadRequestError'
  name = BadRequestError.name
  readonly code = 'bad_request'
  readonly retryable = false
  readonly status = 400
}

/**
 * The peer's API refused the bearer token (missing or wrong). Only a client calling a peer over
 * HTTP sees it: the same token fails on every retry, so nothing is retried.
 */
export class UnauthorizedError extends CompletionError {
  static name = 'UnauthorizedError'
  name = UnauthorizedError.name
  readonly code = 'unauthorized'
  readonly retryable = false
  readonly status = 401
}

/** No peer serves the requested model. */
export class UnknownModelError extends CompletionError {
  static name = 'UnknownModelError'
  name = UnknownModelError.name
  readonly code = 'unknown_model'
  readonly retryable = false
  readonly status = 404
}

/** The peer is at capacity and its queue is full: try another. */
export class BusyError extends CompletionError {
  static name = 'BusyError'
  name = BusyError.name
  readonly code = 'busy'
  readonly retryable = true
  readonly status = 429
}

/** No candidate is left (all dead, open breakers, strict tier missing). */
export class NoPeerError extends CompletionError {
  static name = 'NoPeerError'
  name = NoPeerError.name
  readonly code = 'no_peer'
  readonly retryable = true
  readonly status = 503
}

/** The backend or peer failed (connection error, 5xx, stream cut without a trailer). */
export class UnavailableError extends CompletionError {
  static name = 'UnavailableError'
  name = UnavailableError.name
  readonly code = 'unavailable'
  readonly retryable = true
  readonly status = 502
}

/** The attempt ran out of time. */
export class TimeoutError extends CompletionError {
  static name = 'CompletionTimeoutError'
  name = TimeoutError.name
  readonly code = 'timeout'
  readonly retryable = true
  readonly status = 504
}

/** The caller went away; nobody is waiting for an answer. */
export class AbortedError extends CompletionError {
  static name = 'AbortedError'
  name = AbortedError.name
  readonly code = 'aborted'
  readonly retryable = false
  readonly status = 499
}

/** A bug or an unexpected failure inside a peer. */
export class InternalError extends CompletionError {
  static name = 'InternalError'
  name = InternalError.name
  readonly code = 'internal'
  readonly retryable = false
  readonly status = 500
}

const BY_CODE: Record<CompletionErrorCode, new (message: string) => CompletionError> = {
  bad_request: BadRequestError,
  unauthorized: UnauthorizedError,
  unknown_model: UnknownModelError,
  busy: BusyError,
  no_peer: NoPeerError,
  unavailable: UnavailableError,
  timeout: TimeoutError,
  aborted: AbortedError,
  internal: InternalError
}

/** Whether `code` names one of our error classes (peers and servers of other kinds send others). */
export function isCompletionErrorCode (code: unknown): code is CompletionErrorCode {
  return typeof code === 'string' && Object.hasOwn(BY_CODE, code)
}

/** Rebuilds the error a remote peer reported in its `error` trailer. */
export function errorFromCode (code: string, message: string): CompletionError {
  const Ctor = BY_CODE[code as CompletionErrorCode] ?? UnavailableError
  return new Ctor(message)
}

/** Any thrown value as a CompletionError, keeping known ones as they are. */
export function toCompletionError (err: unknown): CompletionError {
  if (err instanceof CompletionError) return err
  const e = err as Error
  if (e?.name === 'AbortError') return new AbortedError(e.message ?? 'aborted')
  if (e?.name === 'TimeoutError') return new TimeoutError(e.message ?? 'timed out')
  return new InternalError(e?.message ?? String(err))
}
