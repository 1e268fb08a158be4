import { pino, type Logger } from 'pino'

export type { Logger }

export interface LoggerOptions {
  level?: string
  json?: boolean
  /** Where log lines go; stderr by default, so stdout stays for the ready line and command output. */
  stream?: NodeJS.WritableStream
}

const LEVEL_NAMES: Record<number, string> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' }

/**
 * pino for structured logs (`--json-logs`), or the same records as short human lines.
 * Hand-written instead of pino-pretty: one line format is all we need, and it keeps
 * a worker-thread transport out of every peer process.
 */
export function createLogger (options: LoggerOptions = {}): Logger {
  const out = options.stream ?? process.stderr
  const level = options.level ?? 'info'
  if (options.json === true) return pino({ level, base: undefined }, out as any)
  const human = {
    write (line: string): void {
      try {
        const { level: lvl, time, msg, component, err, ...rest } = JSON.parse(line)
        const clock = new Date(time).toISOString().slice(11, 23)
        const extras = Object.entries(rest)
          .filter(([k]) => k !== 'pid' && k !== 'hostname')
          .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
        const error = err != null ? ` (${err.message ?? err})` : ''
        out.write(`${clock} ${LEVEL_NAMES[lvl] ?? lvl} ${component != null ? `[${component}] ` : ''}${msg ?? ''}${error}${extras.length > 0 ? ' ' + extras.join(' ') : ''}\n`)
      } catch {
        out.write(line)
      }
    }
  }
  return pino({ level, base: undefined }, human as any)
}

/** A logger that drops everything, for tests and library use. */
export function silentLogger (): Logger {
  return pino({ level: 'silent' })
}
