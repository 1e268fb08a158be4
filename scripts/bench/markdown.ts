// Number formats and the Markdown table the benchmark report is written with.

export const n0 = (v: number | null | undefined): string => v == null || !Number.isFinite(v) ? '–' : Math.round(v).toLocaleString('en-US')
export const n1 = (v: number | null | undefined): string => v == null || !Number.isFinite(v) ? '–' : v.toFixed(1)
export const n2 = (v: number | null | undefined): string => v == null || !Number.isFinite(v) ? '–' : v.toFixed(2)
export const signed = (v: number): string => `${v >= 0 ? '+' : ''}${n2(v)}`

export function table (head: string[], rows: string[][]): string {
  return [
    `| ${head.join(' | ')} |`,
    `|${head.map(() => '---').join('|')}|`,
    ...rows.map(r => `| ${r.join(' | ')} |`)
  ].join('\n')
}
