import { readFileSync } from 'node:fs'

/** The package version, announced to peers so mixed-version clusters are visible. */
export const VERSION: string = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version
