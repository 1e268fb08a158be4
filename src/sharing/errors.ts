// One error class per failure kind, matched on `err.name` (STYLE.md).

/** A request for a file this peer does not share (unknown hash, a path, a file outside shared dirs). */
export class NotSharedError extends Error {
  static name = 'NotSharedError'
  name = NotSharedError.name
}

/** A frame that does not decode: malformed, oversize, or not what the exchange expects. */
export class BadFrameError extends Error {
  static name = 'BadFrameError'
  name = BadFrameError.name
}

/** A source that failed to deliver (refused, reset, cut short, timed out). */
export class SourceFailedError extends Error {
  static name = 'SourceFailedError'
  name = SourceFailedError.name
}

/** Bytes whose sha256 is not the one listed for them: dropped, their source penalised. */
export class ChunkHashMismatchError extends Error {
  static name = 'ChunkHashMismatchError'
  name = ChunkHashMismatchError.name
}

/** The assembled file's sha256 differs from the catalogue's: nothing is renamed into place. */
export class FileHashMismatchError extends Error {
  static name = 'FileHashMismatchError'
  name = FileHashMismatchError.name
}

/** No peer holds the requested model; the message names where the pull looked. */
export class NoHolderError extends Error {
  static name = 'NoHolderError'
  name = NoHolderError.name
}

/** Every source failed or was penalised before the file was complete. */
export class SourcesExhaustedError extends Error {
  static name = 'SourcesExhaustedError'
  name = SourcesExhaustedError.name
}

/** The uploader is at its concurrent-upload limit; the puller tries another source or later. */
export class BusyError extends Error {
  static name = 'BusyError'
  name = BusyError.name
}

/** The pull's target path holds another file: never overwritten. */
export class TargetExistsError extends Error {
  static name = 'TargetExistsError'
  name = TargetExistsError.name
}
