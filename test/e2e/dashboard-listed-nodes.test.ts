// The dashboard shows the cluster file's nodes as rows, reachable or not, in a real headless
// Chromium against a spawned peer (issue 13: listed nodes are first-class everywhere a user looks).
import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { browserUnavailable, launchBrowser, type TestBrowser } from '../helpers/browser.js'
import { startMockOllamaServer, type MockServer } from '../helpers/mock-ollama-server.js'
import { spawnPeer, type SpawnedPeer } from '../helpers/spawn-peer.js'
import { closedLoopbackPort } from '../helpers/run-cli.js'

const UI_WAIT_MS = 20_000

describe('e2e: dashboard rows for cluster-file nodes', function () {
  this.timeout(60_000)
  let root = ''
  let peer: SpawnedPeer | undefined
  let mock: MockServer | undefined
  let browser: TestBrowser | undefined

  before(function () {
    const reason = browserUnavailable()
    if (reason != null) {
      console.log(`      skipping the dashboard browser test: ${reason}`)
      this.skip()
    }
  })

  after(async () => {
    await browser?.close()
    await peer?.stop().catch(() => {})
    await mock?.close()
    if (root !== '') await rm(root, { recursive: true, force: true })
  })

  it('should list an unreachable and a disabled node next to the peer itself', async () => {
    root = await mkdtemp(join(tmpdir(), 'harombe-dash-nodes-'))
    mock = await startMockOllamaServer({ behavior: { models: ['qwen2.5:3b'] } })
    const [own, down, off] = await Promise.all([closedLoopbackPort(), closedLoopbackPort(), closedLoopbackPort()])
    const file = join(root, 'cluster.yaml')
    await writeFile(file, [
      'cluster:',
      '  nodes:',
      `    - { name: laptop, host: 127.0.0.1, port: ${own}, model: "qwen2.5:3b", tier: 0, backend: ollama, backend_url: "${mock.url}" }`,
      `    - { name: gaming-pc, host: 127.0.0.1, port: ${down}, model: "qwen2.5:14b", tier: 1 }`,
      `    - { name: old-server, host: 127.0.0.1, port: ${off}, model: "qwen2.5:72b", tier: 2, enabled: false }`
    ].join('\n') + '\n')
    peer = await spawnPeer(['--config', file, '--name', 'laptop', '--no-mdns', '--listen', '/ip4/127.0.0.1/tcp/0', '--data-dir', join(root, 'laptop'), '--profile', 'test'])

    browser = await launchBrowser({ viewport: { width: 1200, height: 820 } })
    const page = await browser.context.newPage()
    await page.goto(`${peer.ready.api}/`)
    await page.waitForFunction(() => document.querySelector('[data-node="gaming-pc"][data-state="unreachable"]') != null, null, { timeout: UI_WAIT_MS })
    const rows = await page.locator('[data-peer]').evaluateAll(rs => rs.map(r => `${(r as HTMLElement).dataset.peer ?? ''}:${(r as HTMLElement).dataset.state ?? ''}`))
    assert.deepEqual(rows, ['laptop:alive', 'gaming-pc:unreachable', 'old-server:disabled'])
    const gamingPc = await page.locator('[data-node="gaming-pc"]').innerText()
    assert.match(gamingPc, /cluster file/)
    assert.match(gamingPc, /qwen2\.5:14b/)
    assert.match(gamingPc, /ECONNREFUSED|fetch failed|not answer/i, 'the reason it is down')
    assert.match(await page.locator('[data-peer="laptop"]').innerText(), /cluster file/)
    assert.match(await page.locator('#peers-note').innerText(), /1 listed node unreachable/)
  })
})
