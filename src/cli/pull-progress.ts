import type { PullEvent } from '../sharing/events.js'

// How `pull` shows a PullEvent: a one-line bar redrawn on a TTY, plain lines elsewhere. Pure: each
// function returns text; the command decides where it goes.

export function formatBytes (n: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB']
  let value = n
  let unit = 0
  while (value >= 1000 && unit < units.length - 1) { value /= 1000; unit++ }
  return `${value >= 100 || unit === 0 ? value.toFixed(0) : value.toFixed(1)} ${units[unit] ?? 'B'}`
}

export function formatEta (seconds: number | null): string {
  if (seconds == null || !Number.isFinite(seconds)) return '--:--'
  const s = Math.max(0, Math.round(seconds))
  const h = Math.floor(s / 3600)
  const m = Math.floor((s % 3600) / 60)
  const pad = (x: number): string => String(x).padStart(2, '0')
  return h > 0 ? `${h}:${pad(m)}:${pad(s % 60)}` : `${pad(m)}:${pad(s % 60)}`
}

/** `[#######-------]  42% 120 MB / 290 MB  85 MB/s  ETA 00:02  from a, b` in `width` columns. */
export function progressLine (event: Extract<PullEvent, { type: 'progress' }>, width = 80): string {
  const fraction = event.total > 0 ? event.bytes / event.total : 0
  const active = event.sources.filter(s => !s.excluded && (s.in_flight > 0 || s.chunks > 0)).map(s => s.name)
  const tail = ` ${String(Math.floor(fraction * 100)).padStart(3)}% ${formatBytes(event.bytes)} / ${formatBytes(event.total)}  ${formatBytes(event.rate)}/s  ETA ${formatEta(event.eta_s)}  from ${active.join(', ') || '-'}`
  const barWidth = Math.max(10, Math.min(40, width - tail.length - 2))
  const filled = Math.round(fraction * barWidth)
  return `[${'#'.repeat(filled)}${'-'.repeat(barWidth - filled)}]${tail}`.slice(0, Math.max(20, width - 1))
}

/** A line for the events worth a line of their own (everything but progress), or undefined. */
export function eventLine (event: PullEvent): string | undefined {
  switch (event.type) {
    case 'found': return `${event.name} (${formatBytes(event.size)}, sha256 ${event.sha256.slice(0, 12)}…) held by ${event.holders.map(h => h.name).join(', ')}`
    case 'start': return event.resumed_chunks > 0 ? `resuming: ${event.resumed_chunks} of ${event.chunks} chunks (${formatBytes(event.resumed_bytes)}) already verified in ${event.target}.partial` : undefined
    case 'penalised': return `dropped chunk ${event.index} from ${event.name}: ${event.reason}`
    case 'verifying': return 'verifying the whole file…'
    case 'done': {
      const rate = event.seconds > 0 ? ` (${formatBytes(event.transferred / event.seconds)}/s)` : ''
      const from = event.sources.filter(s => s.chunks > 0).map(s => `${s.name} ${s.chunks}`).join(', ')
      const ollama = event.ollama != null ? `\nadded to Ollama: ${event.ollama.manifest}` : ''
      return `pulled ${event.name} to ${event.path}: ${formatBytes(event.transferred)} in ${event.seconds.toFixed(1)} s${rate}${from !== '' ? `, chunks from ${from}` : ' (already there)'}${ollama}`
    }
    default: return undefined
  }
}
