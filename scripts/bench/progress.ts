// Progress on stderr while a benchmark runs (stdout stays clean). On a terminal one status line
// is redrawn in place; in a log (CI, a pipe) a line is printed at most every few seconds.
const tty = process.stderr.isTTY === true
/** In a log, a line per status change would flood it; this keeps a long run readable. */
const LOG_INTERVAL_MS = 3_000
const runStart = performance.now()
let part = ''
let lastLogged = 0
let lastText = ''

const clock = (): string => `${((performance.now() - runStart) / 1000).toFixed(1).padStart(6)} s`

/** Starts a part: always printed on its own line. */
export function beginPart (name: string, detail = ''): void {
  part = name
  clearLine()
  process.stderr.write(`${clock()}  ▶ ${name}${detail !== '' ? ` — ${detail}` : ''}\n`)
}

/** The current step inside a part, e.g. `hop: 120/300 requests`. */
export function status (text: string): void {
  lastText = text
  const line = `${clock()}    ${part}: ${text}`
  if (tty) {
    process.stderr.write(`\r\x1b[K${line.slice(0, (process.stderr.columns ?? 120) - 1)}`)
    return
  }
  const now = performance.now()
  if (now - lastLogged >= LOG_INTERVAL_MS) {
    lastLogged = now
    process.stderr.write(line + '\n')
  }
}

/** A finished measurement worth keeping in the log: printed on its own line. */
export function note (text: string): void {
  clearLine()
  process.stderr.write(`${clock()}    ${part}: ${text}\n`)
}

function clearLine (): void {
  if (tty && lastText !== '') process.stderr.write('\r\x1b[K')
  lastText = ''
}

export function elapsedSeconds (): number {
  return (performance.now() - runStart) / 1000
}
