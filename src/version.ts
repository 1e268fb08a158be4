import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

/** The package version, announced to peers so mixed-version clusters are visible. */
export const VERSION: string = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version

/** The package's root directory (holds package.json and bin/), found the same way from src/, dist/ and the bundle. */
export const PACKAGE_ROOT: string = fileURLToPath(new URL('..', import.meta.url))
