import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { REPO_ROOT } from '../helpers/spawn-peer.js'

// Issue 25's acceptance 3: `npm run soak -- --quick` (35 s of CLI peers under the mixed workload:
// three APIs, streamed and whole, cancels, tool calls, a kill -9 and restart mid-answer, a pull, a
// joiner) inside npm test. Counts, not timings: no request failed other than those killed on
// purpose (and those were handed over or failed cleanly), and no bounded structure ever held more
// than its bound. Memory trends need the long run; they are not asserted here.

describe('e2e: the quick soak', function () {
  // 35 s of load, a few seconds to start and stop peers; a loaded machine starts them slower.
  this.timeout(150_000)
  let root: string
  let result: any
  let stderr = ''
  let code: number | null = null

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'harombe-soak-test-'))
    const out = join(root, 'soak.quick.json')
    const child = spawn(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'scripts', 'soak', 'run.ts'), '--quick', '--json', '--out', out, '--no-build'], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
    child.stdout.resume()
    child.stderr.setEncoding('utf8')
    child.stderr.on('data', (chunk: string) => { stderr = (stderr + chunk).slice(-8_000) })
    const timer = setTimeout(() => { child.kill('SIGKILL') }, 140_000)
    code = await new Promise<number | null>(resolve => child.once('exit', c => { resolve(c) }))
    clearTimeout(timer)
    result = JSON.parse(await readFile(out, 'utf8').catch(() => 'null'))
  })
  after(async () => { await rm(root, { recursive: true, force: true }) })

  const why = (): string => `exit ${code}\n${stderr.split('\n').slice(-25).join('\n')}\nfailures: ${JSON.stringify(result?.data?.failures?.slice(0, 5))}`

  it('ran the whole workload: every API and kind, a kill and restart, a pull, a join and a leave', () => {
    assert.ok(result != null, why())
    const byKind = result.data.requests.byKind as Record<string, Record<string, number>>
    for (const kind of ['openai-stream', 'openai-json', 'harombe-stream', 'harombe-json', 'ollama-stream', 'ollama-json', 'tools-json', 'tools-stream']) {
      assert.ok((byKind[kind]?.completed ?? 0) > 0, `${kind} completed at least once: ${JSON.stringify(byKind[kind])}`)
    }
    for (const kind of ['cancel-openai', 'cancel-harombe', 'cancel-ollama']) {
      assert.ok((byKind[kind]?.cancelled ?? 0) > 0, `${kind} cancelled at least once: ${JSON.stringify(byKind[kind])}`)
    }
    const actions = (result.data.events as Array<{ action: string }>).map(e => e.action)
    for (const a of ['join', 'leave', 'kill -9', 'restart', 'pull']) assert.ok(actions.includes(a), `${a} in ${actions.join(', ')}`)
    assert.equal(result.data.pulls.ok, 1)
  })

  it('no request failed other than those killed on purpose, which were handed over or failed cleanly', () => {
    assert.ok(result != null, why())
    const r = result.data.requests
    assert.ok(r.sent >= 50, `a real workload: ${r.sent} requests`)
    assert.equal(r.failed, 0, why())
    // The kill waits until serve-1 runs a completion: the handover path is exercised, not just allowed.
    assert.ok(r.killedOnPurpose.total >= 1, `a request was running on the killed peer: ${JSON.stringify(r.killedOnPurpose)}`)
    assert.equal(r.killedOnPurpose.failedUnclean, 0, why())
    assert.equal(result.data.pulls.failed, 0, JSON.stringify(result.data.pulls))
    assert.deepEqual(result.data.crashes, [], 'no peer exited without being killed or stopped')
    assert.equal(code, 0, why())
  })

  it('every bounded structure stayed within its bound at every sample, and every peer was sampled', () => {
    assert.ok(result != null, why())
    assert.deepEqual(result.data.overBound, [])
    for (const [peer, structures] of Object.entries(result.data.bounded as Record<string, Record<string, { maxSize: number, limit: number }>>)) {
      for (const [name, b] of Object.entries(structures)) assert.ok(b.maxSize <= b.limit, `${peer} ${name}: ${b.maxSize} > ${b.limit}`)
    }
    for (const peer of ['entry-a', 'entry-b', 'serve-1', 'serve-2', 'joiner']) {
      const samples = result.data.series[peer] as Array<{ rssMb: number | null, fds: number | null, streams: number | null, connections: number | null }> | undefined
      assert.ok(samples != null && samples.length >= 2, `${peer} sampled`)
      assert.ok(samples.every(s => s.rssMb != null && s.fds != null && s.streams != null && s.connections != null), `${peer}: every sample has RSS, descriptors, streams, connections`)
    }
  })
})
