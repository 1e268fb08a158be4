import { padVisible, visibleWidth } from './format.js'

/** Left-aligned columns separated by two spaces; widths from the widest cell, escape codes not counted. */
export function renderTable (headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(visibleWidth(h), ...rows.map(r => visibleWidth(r[i] ?? ''))))
  const line = (cells: string[]): string => cells.map((c, i) => padVisible(c, widths[i] ?? 0)).join('  ').trimEnd()
  return [line(headers), ...rows.map(line)].join('\n')
}
