import type { RowState } from './status-rows.js'

/** `12D3…x8ket`: enough of a peer id to tell peers apart in a table. */
export function shortId (peerId: string): string {
  return peerId.length > 12 ? `${peerId.slice(0, 4)}…${peerId.slice(-6)}` : peerId
}

// SGR sequences (colours, bold) and the cursor/erase sequences `status --watch` writes.
const ANSI = /\x1b\[[0-9;?]*[A-Za-z]/g

export function stripAnsi (text: string): string {
  return text.replace(ANSI, '')
}

/**
 * Columns a string takes on a terminal, ignoring escape sequences. Counted in code points, so
 * `…` and `·` are one column; the CLI prints no wide (CJK, emoji) characters of its own.
 */
export function visibleWidth (text: string): number {
  return [...stripAnsi(text)].length
}

/** `padEnd` by visible width, so a coloured cell lines up with plain ones. */
export function padVisible (text: string, width: number): string {
  return text + ' '.repeat(Math.max(0, width - visibleWidth(text)))
}

export type Style = 'green' | 'yellow' | 'red' | 'gray' | 'bold' | 'dim'

// Not util.styleText: whether it checks the stream itself differs between Node 20 minors, and
// the CLI decides colour once (shouldColor) for the whole output anyway.
const SGR: Record<Style, [number, number]> = {
  green: [32, 39],
  yellow: [33, 39],
  red: [31, 39],
  gray: [90, 39],
  bold: [1, 22],
  dim: [2, 22]
}

/** A painter that colours when `enabled` and is the identity otherwise. */
export type Paint = (style: Style, text: string) => string

export function painter (enabled: boolean): Paint {
  if (!enabled) return (_style, text) => text
  return (style, text) => `\x1b[${SGR[style][0]}m${text}\x1b[${SGR[style][1]}m`
}

/**
 * Colour on a TTY unless `NO_COLOR` is set (no-color.org: any non-empty value); `FORCE_COLOR`
 * wins over both, as in Node itself: `0`/`false` turns colour off, any other value on.
 */
export function shouldColor (stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv = process.env): boolean {
  const force = env.FORCE_COLOR
  if (force != null) return force !== '0' && force.toLowerCase() !== 'false'
  if (env.NO_COLOR != null && env.NO_COLOR !== '') return false
  if (env.TERM === 'dumb') return false
  return stream.isTTY === true
}

/**
 * alive green; suspect or reachable (over HTTP only) yellow; dead or unreachable red; left,
 * checking and disabled grey: the states a reader scans for.
 */
export function stateStyle (state: RowState): Style {
  switch (state) {
    case 'alive': return 'green'
    case 'suspect':
    case 'reachable': return 'yellow'
    case 'dead':
    case 'unreachable': return 'red'
    default: return 'gray'
  }
}
