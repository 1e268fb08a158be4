// What a pull reports as it runs: NDJSON lines for `pull --json` and the HTTP endpoint, a
// progress bar on a TTY. snake_case: these cross the HTTP API.

export interface SourceProgress {
  peer: string
  name: string
  chunks: number
  bytes: number
  in_flight: number
  failures: number
  mismatches: number
  excluded: boolean
}

export type PullEvent =
  | { type: 'found', name: string, sha256: string, size: number, holders: Array<{ peer: string, name: string }>, asked: string[] }
  | { type: 'start', name: string, sha256: string, size: number, chunks: number, chunk_size: number, resumed_chunks: number, resumed_bytes: number, target: string }
  | { type: 'progress', bytes: number, total: number, transferred: number, rate: number, eta_s: number | null, sources: SourceProgress[] }
  | { type: 'penalised', peer: string, name: string, index: number, reason: string }
  | { type: 'verifying', path: string }
  | { type: 'done', path: string, name: string, sha256: string, size: number, transferred: number, resumed_bytes: number, seconds: number, sources: SourceProgress[], ollama?: { manifest: string, blob: string } }
  | { type: 'error', code: string, message: string }
