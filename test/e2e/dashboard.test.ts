// The dashboard in a real headless Chromium against 3 spawned peers (one behind a token), each
// answering through its own mock OpenAI upstream. Also writes the screenshot the README shows
// when HAROMBE_UPDATE_SCREENSHOT=1 (`npm run screenshot`).
import assert from 'node:assert/strict'
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Page } from 'playwright-core'
import type { ClusterJson } from '../../src/api/cluster-json.js'
import { browserUnavailable, launchBrowser, type TestBrowser } from '../helpers/browser.js'
import { waitForClusterHttp } from '../helpers/cluster-http.js'
import { postJson } from '../helpers/cluster.js'
import { startMockOpenAIServer, type MockServer } from '../helpers/mock-openai-server.js'
import { REPO_ROOT, spawnPeer, type SpawnedPeer } from '../helpers/spawn-peer.js'

const TOKEN = 'dashboard-secret'
const ARTIFACTS = join(REPO_ROOT, 'test', 'artifacts')
const README_SCREENSHOT = join(REPO_ROOT, 'docs', 'dashboard.png')
const UPDATE_README = process.env.HAROMBE_UPDATE_SCREENSHOT === '1'

/** Realistic names, models and speeds: this cluster is also what the README screenshot shows. */
const NODES = [
  { name: 'macbook', tier: 0, model: 'qwen2.5:3b', firstTokenDelayMs: 45, tokenDelayMs: 8 },
  { name: 'workstation', tier: 1, model: 'qwen2.5:14b', firstTokenDelayMs: 110, tokenDelayMs: 16 },
  { name: 'cloud-gpu', tier: 2, model: 'qwen2.5:32b', firstTokenDelayMs: 230, tokenDelayMs: 12 }
] as const

/** The answer names its node, so the page's "served by" can be checked against the text itself. */
const answerOf = (name: string): string[] => ['Hello', ' from', ` ${name}`, ' —', ' routed', ' over', ' the', ' mesh.']

/**
 * Waits are generous: three peers, a browser and the test share a loaded 2-core CI box, and the
 * peers may run from source through tsx while someone edits src/.
 */
const UI_WAIT_MS = 20_000

describe('e2e: dashboard in headless Chromium', function () {
  this.timeout(60_000)
  const peers = new Map<string, SpawnedPeer>()
  const mocks = new Map<string, MockServer>()
  let root = ''
  let browser: TestBrowser | undefined
  let page: Page
  let api = ''

  before(async function () {
    const reason = browserUnavailable()
    if (reason != null) {
      console.log(`      skipping the dashboard browser test: ${reason}`)
      this.skip()
    }
    root = await mkdtemp(join(tmpdir(), 'harombe-dashboard-'))
    await mkdir(ARTIFACTS, { recursive: true })
    const start = async (node: typeof NODES[number], bootstrap?: string): Promise<SpawnedPeer> => {
      const mock = await startMockOpenAIServer({ behavior: { models: [node.model], tokens: answerOf(node.name), firstTokenDelayMs: node.firstTokenDelayMs, tokenDelayMs: node.tokenDelayMs } })
      mocks.set(node.name, mock)
      const peer = await spawnPeer([
        '--name', node.name, '--tier', String(node.tier), '--backend', 'openai', '--backend-url', mock.url, '--model', node.model,
        '--no-mdns', '--api-port', '0', '--listen', '/ip4/127.0.0.1/tcp/0', '--data-dir', join(root, node.name),
        ...(bootstrap != null ? ['--bootstrap', bootstrap] : []),
        // The peer the page is opened on: the page must get through its token.
        ...(node.name === 'macbook' ? ['--token', TOKEN] : [])
      ], { timeoutMs: 30_000 })
      peers.set(node.name, peer)
      return peer
    }
    const first = await start(NODES[0])
    await Promise.all(NODES.slice(1).map(async n => await start(n, first.ready.mesh[0])))
    api = first.ready.api
    // Converged, models included, before the page opens: the test is about the page, not the join.
    const converged = (cl: ClusterJson): boolean => cl.peers.length === 3 && cl.peers.every(p => p.state === 'alive' && p.models.length > 0)
    await waitForClusterHttp(peers.get('workstation')?.ready.api ?? '', converged, 20_000, '3 alive peers with models')
    browser = await launchBrowser({ viewport: { width: 1200, height: 820 } })
    page = await browser.context.newPage()
  })

  afterEach(async function () {
    if (this.currentTest?.state === 'failed' && page != null) {
      await page.screenshot({ path: join(ARTIFACTS, 'dashboard-failed.png'), fullPage: true }).catch(() => {})
    }
  })

  after(async () => {
    await browser?.close()
    await Promise.all([...peers.values()].map(async p => { await p.stop().catch(() => {}) }))
    await Promise.all([...mocks.values()].map(async m => { await m.close().catch(() => {}) }))
    if (root !== '') await rm(root, { recursive: true, force: true })
  })

  it('should ask for the token, then list the 3 peers live', async () => {
    await page.goto(`${api}/`)
    // The page learns it needs the token from the API's 401, not from anything baked into it.
    await page.locator('#conn.locked').waitFor({ timeout: UI_WAIT_MS })
    assert.ok(await page.locator('#auth').isVisible(), 'token form shown')
    assert.equal(await page.locator('[data-peer]').count(), 0, 'no peers shown before the token is given')

    await page.fill('#token', TOKEN)
    await page.click('#auth button')
    assert.ok(await page.locator('#auth').isHidden(), 'token form hidden once a token is given')
    await page.waitForFunction(() => document.querySelectorAll('[data-peer][data-state="alive"]').length === 3, null, { timeout: UI_WAIT_MS })
    const names = await page.locator('[data-peer]').evaluateAll(rows => rows.map(r => (r as HTMLElement).dataset.peer))
    assert.deepEqual(names, ['cloud-gpu', 'macbook', 'workstation'])
    const workstation = await page.locator('[data-peer="workstation"]').innerText()
    assert.match(workstation, /qwen2\.5:14b/, 'models column')
    assert.match(workstation, /1 medium/, 'tier column')
    assert.match(workstation, /alive/, 'state in words')
    // The SSE stream (fetch with the bearer token) is connected, not only the polling fallback.
    await page.locator('#conn.live').waitFor({ timeout: UI_WAIT_MS })
  })

  it('should send a test completion through the mesh and show the text and the serving peer', async () => {
    await page.fill('#prompt', 'Say hello from the mesh.')
    await page.selectOption('#tier', '1')
    await page.click('#send')
    await page.locator('#result-node').waitFor({ timeout: UI_WAIT_MS })
    assert.equal(await page.locator('#result-node').innerText(), 'workstation', 'tier 1 is served by workstation, over the mesh from macbook')
    assert.equal(await page.locator('#result-text').innerText(), answerOf('workstation').join(''))
    assert.match(await page.locator('#result-meta').innerText(), /TTFT \d+ ms/)
  })

  it('should list that request in recent requests with the peer that served it', async () => {
    // DESIGN lists GET /api/requests: a 404 is a regression, and fails here rather than skipping.
    const res = await fetch(`${api}/api/requests?limit=5`, { headers: { authorization: `Bearer ${TOKEN}` } })
    assert.equal(res.status, 200, 'GET /api/requests')
    const row = page.locator('#requests tr', { hasText: 'workstation' }).first()
    await row.waitFor({ timeout: UI_WAIT_MS })
    assert.equal(await row.getAttribute('data-outcome'), 'ok')
    assert.match(await row.innerText(), /qwen2\.5:14b/)
    // Why it went there (issue 23), under the serving peer's name.
    assert.match(await row.locator('[data-field="route-reason"]').innerText(), /tier 1 as requested/)
  })

  it('should show a peer as dead within 10 s of kill -9', async () => {
    if (UPDATE_README) await captureReadmeScreenshot(page, api, mocks)
    const victim = peers.get('cloud-gpu')
    assert.ok(victim != null)
    const killedAt = Date.now()
    await victim.kill()
    await page.locator('[data-peer="cloud-gpu"][data-state="dead"]').waitFor({ timeout: 10_000 })
    const elapsed = Date.now() - killedAt
    assert.ok(elapsed <= 10_000, `dead shown after ${elapsed} ms`)
    assert.match(await page.locator('[data-peer="cloud-gpu"] [data-field="state"]').innerText(), /dead/)
    assert.equal(await page.locator('[data-peer][data-state="alive"]').count(), 2)
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard.png') })
  })

  it('should show hostile text from the network as text, not markup', async () => {
    mocks.get('workstation')?.setBehavior({ tokens: ['<img src=x onerror="window.__pwned=1">', '<b>bold</b>'] })
    await page.selectOption('#peer', 'workstation')
    await page.click('#send')
    await page.locator('#result-node').waitFor({ timeout: UI_WAIT_MS })
    assert.equal(await page.locator('#result-text').innerText(), '<img src=x onerror="window.__pwned=1"><b>bold</b>')
    assert.equal(await page.locator('#result-text img, #result-text b').count(), 0)
    assert.equal(await page.evaluate(() => (window as any).__pwned), undefined)
  })
})

/**
 * The README image: all 3 peers alive, a few requests through different tiers and APIs, and some
 * load in flight so the bars show something. Only with HAROMBE_UPDATE_SCREENSHOT=1.
 */
async function captureReadmeScreenshot (page: Page, api: string, mocks: Map<string, MockServer>): Promise<void> {
  const auth = { authorization: `Bearer ${TOKEN}` }
  const ask = (fields: Record<string, unknown>): Record<string, unknown> => ({ messages: [{ role: 'user', content: 'Say hello from the mesh.' }], ...fields })
  for (const body of [ask({ tier: 2 }), ask({ tier: 0, stream: true }), ask({ model: 'qwen2.5:14b' })]) {
    assert.equal((await postJson(`${api}/api/complete`, body, { headers: auth })).status, 200)
  }
  assert.equal((await postJson(`${api}/v1/chat/completions`, { model: 'qwen2.5:32b', stream: true, messages: [{ role: 'user', content: 'hi' }] }, { headers: auth })).status, 200)
  await page.waitForFunction(() => document.querySelectorAll('#requests tr').length >= 5, null, { timeout: UI_WAIT_MS }).catch(() => {
    console.log('      (README screenshot: the request log did not show 5 requests)')
  })

  const held = new AbortController()
  const gpu = mocks.get('cloud-gpu')
  gpu?.setBehavior({ firstTokenDelayMs: 30_000 })
  const inFlight = [1, 2, 3].map(async () => await postJson(`${api}/api/complete`, ask({ peer: 'cloud-gpu' }), { headers: auth, signal: held.signal }).catch(() => {}))
  await page.waitForFunction(() => document.querySelector('[data-peer="cloud-gpu"] .load')?.textContent?.includes('3 / 4') === true, null, { timeout: UI_WAIT_MS }).catch(() => {
    console.log('      (README screenshot: the load of cloud-gpu did not show 3 / 4)')
  })
  await page.evaluate(() => { window.scrollTo(0, 0) })
  await mkdir(join(REPO_ROOT, 'docs'), { recursive: true })
  await page.screenshot({ path: README_SCREENSHOT })
  console.log(`      wrote ${README_SCREENSHOT}`)
  held.abort()
  await Promise.all(inFlight)
  gpu?.setBehavior({ firstTokenDelayMs: NODES[2].firstTokenDelayMs })
}
