import { createHash } from 'node:crypto'
import type { FastifyInstance } from 'fastify'

const sha256 = (text: string): string => `'sha256-${createHash('sha256').update(text).digest('base64')}'`

interface DashboardPage {
  html: string
  csp: string
}

/**
 * Defence in depth behind the page's text-only rendering: only the page's own script and style
 * run, it may talk to this origin only, and it cannot be framed (the token lives in its storage).
 */
function contentSecurityPolicy (script: string, style: string): string {
  return [
    "default-src 'none'",
    `script-src ${sha256(script)}`,
    `style-src ${sha256(style)}`,
    "connect-src 'self'",
    'img-src data:',
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'"
  ].join('; ')
}

// The page and its modules hold ~0.2 MB of heap (measured) that most peers never serve: a
// headless peer is never opened in a browser. Loaded on the first request, once per process.
let page: Promise<DashboardPage> | undefined
async function loadPage (): Promise<DashboardPage> {
  page ??= import('./dashboard-page.js').then(
    ({ DASHBOARD_HTML, DASHBOARD_SCRIPT, DASHBOARD_STYLE }) => ({ html: DASHBOARD_HTML, csp: contentSecurityPolicy(DASHBOARD_SCRIPT, DASHBOARD_STYLE) }),
    (err: unknown) => {
      // A failed load is retried by the next request rather than remembered.
      page = undefined
      throw err
    })
  return await page
}

/**
 * `GET /`: one self-contained page (no build step, no assets) showing the cluster view live from
 * `/api/cluster/events`, recent requests from `/api/requests`, and a form that sends a test
 * completion through the mesh. The page itself is public; the data it fetches needs the token.
 */
export function registerDashboard (app: FastifyInstance): void {
  app.get('/', async (_request, reply) => {
    const { html, csp } = await loadPage()
    await reply
      .header('content-type', 'text/html; charset=utf-8')
      .header('content-security-policy', csp)
      .header('x-content-type-options', 'nosniff')
      .header('referrer-policy', 'no-referrer')
      .header('cache-control', 'no-cache')
      .send(html)
  })
}
