// Headless Chromium for browser tests: Debian's `chromium` package driven by playwright-core
// (which ships no browser). `.ci/run` installs the package when it can; without it, tests skip
// and say why instead of failing on a machine that cannot run a browser.
import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { chromium, type BrowserContext } from 'playwright-core'

export const CHROMIUM_PATH = process.env.HAROMBE_CHROMIUM ?? '/usr/bin/chromium'

/**
 * Loopback-only and quiet: no QUIC, no background fetches, no component updates or sync, so the
 * browser talks to nothing but the peers under test. No sandbox because CI runs as root in a
 * container, where Chromium's sandbox cannot start.
 */
const ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'
]

export interface TestBrowser {
  context: BrowserContext
  close: () => Promise<void>
}

/** Why no browser test can run here, or undefined when Chromium is installed. */
export function browserUnavailable (): string | undefined {
  if (!existsSync(CHROMIUM_PATH)) return `no Chromium at ${CHROMIUM_PATH} (install Debian's \`chromium\` or set HAROMBE_CHROMIUM)`
  return undefined
}

/** A fresh profile in a temp directory per call, so no state (tokens in localStorage) leaks between runs. */
export async function launchBrowser (options: { viewport?: { width: number, height: number }, colorScheme?: 'light' | 'dark' } = {}): Promise<TestBrowser> {
  const profile = await mkdtemp(join(tmpdir(), 'harombe-chromium-'))
  let context: BrowserContext | undefined
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM_PATH,
      headless: true,
      args: ARGS,
      viewport: options.viewport ?? { width: 1200, height: 800 },
      colorScheme: options.colorScheme ?? 'light',
      timeout: 30_000
    })
  } catch (err) {
    await rm(profile, { recursive: true, force: true })
    throw err
  }
  const opened = context
  return {
    context: opened,
    async close () {
      await opened.close().catch(() => {})
      await rm(profile, { recursive: true, force: true })
    }
  }
}
