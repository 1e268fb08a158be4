import { createHash } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import { DASHBOARD_HTML, DASHBOARD_SCRIPT, DASHBOARD_STYLE } from './dashboard-page.js'

const sha256 = (text: string): string => `'sha256-${createHash('sha256').update(text).digest('base64')}'`

/**
 * Defence in depth behind the page's text-only rendering: only the page's own script and style
 * run, it may talk to this origin only, and it cannot be framed (the token lives in its storage).
 */
const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  `script-src ${sha256(DASHBOARD_SCRIPT)}`,
  `style-src ${sha256(DASHBOARD_STYLE)}`,
  "connect-src 'self'",
  'img-src data:',
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'"
].join('; ')

/**
 * `GET /`: one self-contained page (no build step, no assets) showing the cluster view live from
 * `/api/cluster/events`, recent requests from `/api/requests`, and a form that sends a test
 * completion through the mesh. The page itself is public; the data it fetches needs the token.
 */
export function registerDashboard (app: FastifyInstance): void {
  app.get('/', async (_request, reply) => {
    await reply
      .header('content-type', 'text/html; charset=utf-8')
      .header('content-security-policy', CONTENT_SECURITY_POLICY)
      .header('x-content-type-options', 'nosniff')
      .header('referrer-policy', 'no-referrer')
      .header('cache-control', 'no-cache')
      .send(DASHBOARD_HTML)
  })
}
