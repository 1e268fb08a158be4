// Model pull benchmark (issue 16): `npx tsx scripts/bench/pull.ts [--quick]`. Every peer is its own
// `harombe-peer start` process on 127.0.0.1; pulls go through `POST /api/models/pull` on the puller.
//   startup   time to the ready line with and without a 2 GiB file to hash in the models dir
//   one       one source, unlimited, vs a node:net copy of the same file in the same run (target ≥ 80 %)
//   three     three sources each limited by --share-rate vs one such source (target ≥ 1.8×)
//   resume    kill -9 of the puller at 50 %, restart, pull again: bytes the rerun transfers (target ≤ 55 %)
// Writes bench/results/pull[.quick].json.
import '../../src/polyfill.js'
import { createHash } from 'node:crypto'
import { createReadStream, createWriteStream } from 'node:fs'
import { mkdir, mkdtemp, open, rm } from 'node:fs/promises'
import { createServer, connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { once } from 'node:events'
import { parseArgs } from 'node:util'
import { spawnPeer, type SpawnedPeer } from '../../test/helpers/spawn-peer.js'
import { gitInfo, machineInfo, writeResult, type ResultFile, type Target } from './results.js'
import { loadavg } from 'node:os'

const { values } = parseArgs({ options: { quick: { type: 'boolean', default: false }, part: { type: 'string', multiple: true } } })
const wanted = (part: string): boolean => values.part == null || values.part.includes(part)
const quick = values.quick === true
const GiB = 1024 * 1024 * 1024
const MiB = 1024 * 1024
const sizes = { startup: 2 * GiB, one: quick ? 256 * MiB : GiB, three: quick ? 96 * MiB : 256 * MiB, resume: quick ? 96 * MiB : 256 * MiB }
/** Per-source limit for the three-source run: low enough that the limit, not the 2-core machine, is measured. */
const RATE = 20_000_000

const root = await mkdtemp(join(tmpdir(), 'harombe-bench-pull-'))
const peers: SpawnedPeer[] = []
const common = ['--api-port', '0', '--listen', '/ip4/127.0.0.1/tcp/0', '--no-mdns', '--backend', 'none']

/** A sparse file with the GGUF magic: fast to create; every byte is still read, hashed and sent. */
async function sparseGguf (path: string, size: number): Promise<void> {
  const handle = await open(path, 'w')
  await handle.write(Buffer.from('GGUF'), 0, 4, 0)
  await handle.truncate(size)
  await handle.close()
}

/**
 * Random content (same seed, same bytes on every holder): a sparse file's zero chunks all share one
 * hash, and a resumed pull would find them "verified" in its own zero-filled partial file.
 */
async function randomGguf (path: string, size: number): Promise<void> {
  const handle = await open(path, 'w')
  let seed = Buffer.from('harombe-bench')
  for (let offset = 0; offset < size; offset += MiB) {
    // A cheap deterministic stream: one sha512 per 64 bytes would be slow, so one MiB repeats a seeded block.
    seed = createHash('sha512').update(seed).digest()
    const piece = Buffer.alloc(Math.min(MiB, size - offset), seed)
    if (offset === 0) piece.write('GGUF', 0, 'latin1')
    await handle.write(piece, 0, piece.length, offset)
  }
  await handle.close()
}

async function holder (name: string, file: string, size: number, extra: string[] = [], bootstrap?: string): Promise<SpawnedPeer> {
  const dir = join(root, name, 'models')
  await mkdir(dir, { recursive: true })
  await randomGguf(join(dir, file), size)
  const p = await spawnPeer([...common, '--name', name, '--data-dir', join(root, name), '--models-dir', dir, ...extra, ...(bootstrap != null ? ['--bootstrap', bootstrap] : [])], { timeoutMs: 60_000 })
  peers.push(p)
  return p
}

/** Waits until `api` sees `count` holders of `name` (each holder hashes first). */
async function waitHolders (api: string, name: string, count: number): Promise<void> {
  const deadline = Date.now() + 180_000
  while (Date.now() < deadline) {
    const body = await (await fetch(`${api}/api/models/holders`)).json() as { files: Array<{ name: string, holders: unknown[] }> }
    if ((body.files.find(f => f.name === name)?.holders.length ?? 0) >= count) return
    await new Promise(resolve => setTimeout(resolve, 250))
  }
  throw new Error(`no ${count} holders of ${name} seen at ${api}`)
}

/** Pulls through `api`; returns the done event, or stops at `stopAt` (fraction) calling `onStop`. */
async function pull (api: string, name: string, stopAt?: { fraction: number, onStop: () => Promise<void> }): Promise<any> {
  const res = await fetch(`${api}/api/models/pull`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: name }) })
  const reader = res.body!.getReader()
  const decoder = new TextDecoder()
  let buffered = ''
  let last: any
  try {
    while (true) {
      const { done, value } = await reader.read()
      if (done) break
      buffered += decoder.decode(value, { stream: true })
      let nl: number
      while ((nl = buffered.indexOf('\n')) >= 0) {
        last = JSON.parse(buffered.slice(0, nl))
        buffered = buffered.slice(nl + 1)
        if (last.type === 'penalised') console.error(`  penalised ${last.name} chunk ${last.index}: ${last.reason}`)
        if (stopAt != null && last.type === 'progress' && last.bytes >= last.total * stopAt.fraction) {
          await stopAt.onStop()
          return last
        }
      }
    }
  } catch (err) {
    if (stopAt == null) throw err
  }
  if (last?.type !== 'done') throw new Error(`pull ended with ${JSON.stringify(last)}`)
  return last
}

/** node:net copy of `path` to a file over loopback, in this process: the "plain TCP" yardstick. */
async function tcpCopy (path: string, to: string): Promise<number> {
  const server = createServer(socket => { createReadStream(path).pipe(socket) })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const port = (server.address() as { port: number }).port
  const started = performance.now()
  const socket = connect(port, '127.0.0.1')
  const out = createWriteStream(to)
  socket.pipe(out)
  await once(out, 'finish')
  const seconds = (performance.now() - started) / 1000
  server.close()
  return seconds
}

const results: Record<string, unknown> = {}
const loadAtStart = loadavg()[0] ?? 0
const runStarted = performance.now()
const mb = (bytes: number, seconds: number): number => Math.round(bytes / seconds / 1e5) / 10
try {
  // startup: ready line with a 2 GiB file to hash vs an empty models dir.
  if (wanted('startup')) {
    const t0 = Date.now()
    const empty = await spawnPeer([...common, '--name', 's0', '--data-dir', join(root, 's0')], { timeoutMs: 60_000 })
    const emptyMs = Date.now() - t0
    await empty.stop()
    const dir = join(root, 's1', 'models')
    await mkdir(dir, { recursive: true })
    await sparseGguf(join(dir, 'big.gguf'), sizes.startup)
    const t1 = Date.now()
    const big = await spawnPeer([...common, '--name', 's1', '--data-dir', join(root, 's1'), '--models-dir', dir], { timeoutMs: 60_000 })
    const bigMs = Date.now() - t1
    const files = await (await fetch(`${big.ready.api}/api/models/files`)).json() as { hashing: unknown[] }
    await big.stop()
    results.startup = { empty_ready_ms: emptyMs, with_2gib_ready_ms: bigMs, still_hashing_at_ready: files.hashing.length > 0 }
    console.log('startup', results.startup)
  }
  // one source, unlimited, vs node:net.
  if (wanted('one')) {
    const a = await holder('one-a', 'one.gguf', sizes.one)
    const c = await spawnPeer([...common, '--name', 'one-c', '--data-dir', join(root, 'one-c'), '--bootstrap', a.ready.mesh[0] ?? ''], { timeoutMs: 60_000 })
    peers.push(c)
    await waitHolders(c.ready.api, 'one', 1)
    const done = await pull(c.ready.api, 'one')
    const tcpSeconds = await tcpCopy(join(root, 'one-a', 'models', 'one.gguf'), join(root, 'tcp-copy'))
    // The pull's time includes verifying the whole file's sha256 at the end; the transfer alone is reported too.
    results.one = { bytes: sizes.one, pull_seconds: done.seconds, pull_mb_s: mb(sizes.one, done.seconds), tcp_seconds: tcpSeconds, tcp_mb_s: mb(sizes.one, tcpSeconds), ratio: Math.round(tcpSeconds / done.seconds * 100) / 100, target: 0.8 }
    console.log('one', results.one)
    await rm(join(root, 'tcp-copy'), { force: true })
    for (const p of peers.splice(0)) await p.stop()
  }
  // three rate-limited sources vs one.
  if (wanted('three')) {
    const rate = ['--share-rate', String(RATE)]
    const a = await holder('t-a', 'three.gguf', sizes.three, rate)
    const boot = a.ready.mesh[0] ?? ''
    const one = await spawnPeer([...common, '--name', 't-one', '--data-dir', join(root, 't-one'), '--bootstrap', boot], { timeoutMs: 60_000 })
    peers.push(one)
    await waitHolders(one.ready.api, 'three', 1)
    const single = await pull(one.ready.api, 'three')
    await holder('t-b', 'three.gguf', sizes.three, rate, boot)
    await holder('t-c', 'three.gguf', sizes.three, rate, boot)
    const three = await spawnPeer([...common, '--name', 't-three', '--data-dir', join(root, 't-three'), '--bootstrap', boot], { timeoutMs: 60_000 })
    peers.push(three)
    await waitHolders(three.ready.api, 'three', 4)
    // The puller that already has it is a fourth holder: stop it so exactly three sources remain.
    await one.stop()
    await waitHolders(three.ready.api, 'three', 3)
    const triple = await pull(three.ready.api, 'three').catch((err: Error) => { console.error(three.stderrTail(40)); throw err })
    results.three = { bytes: sizes.three, rate_per_source: RATE, one_mb_s: mb(sizes.three, single.seconds), three_mb_s: mb(sizes.three, triple.seconds), speedup: Math.round(single.seconds / triple.seconds * 100) / 100, sources: triple.sources.map((s: any) => [s.name, s.chunks]), target: 1.8 }
    console.log('three', results.three)
    for (const p of peers.splice(0)) await p.stop()
  }
  // resume: kill -9 of the puller at 50 %.
  if (wanted('resume')) {
    const a = await holder('r-a', 'resume.gguf', sizes.resume, ['--share-rate', String(RATE * 2)])
    const args = [...common, '--name', 'r-c', '--data-dir', join(root, 'r-c'), '--bootstrap', a.ready.mesh[0] ?? '']
    const c1 = await spawnPeer(args, { timeoutMs: 60_000 })
    await waitHolders(c1.ready.api, 'resume', 1)
    await pull(c1.ready.api, 'resume', { fraction: 0.5, onStop: async () => { await c1.kill() } })
    const c2 = await spawnPeer(args, { timeoutMs: 60_000 })
    peers.push(c2)
    await waitHolders(c2.ready.api, 'resume', 1)
    const done = await pull(c2.ready.api, 'resume')
    results.resume = { bytes: sizes.resume, rerun_transferred: done.transferred, rerun_fraction: Math.round(done.transferred / sizes.resume * 1000) / 1000, resumed_bytes: done.resumed_bytes, target: 0.55 }
    console.log('resume', results.resume)
  }
} finally {
  for (const p of peers.splice(0)) await p.stop().catch(() => null)
  await rm(root, { recursive: true, force: true })
}
const r = results as any
const targets: Target[] = []
if (r.startup != null) targets.push({ what: 'start with a 2 GiB file to hash vs an empty models dir (ready line)', target: 'hashing does not delay start', measured: `${r.startup.with_2gib_ready_ms} vs ${r.startup.empty_ready_ms} ms; still hashing at ready: ${String(r.startup.still_hashing_at_ready)}`, met: r.startup.still_hashing_at_ready === true && r.startup.with_2gib_ready_ms <= r.startup.empty_ready_ms * 1.5 })
if (r.one != null) targets.push({ what: `one source, ${Math.round(r.one.bytes / MiB)} MiB, vs a plain node:net copy of the same file in the same run`, target: '≥ 0.8 ×', measured: `${r.one.pull_mb_s} vs ${r.one.tcp_mb_s} MB/s = ${r.one.ratio} ×`, met: r.one.ratio >= 0.8 })
if (r.three != null) targets.push({ what: `three sources at ${r.three.rate_per_source / 1e6} MB/s each vs one, ${Math.round(r.three.bytes / MiB)} MiB`, target: '≥ 1.8 ×', measured: `${r.three.three_mb_s} vs ${r.three.one_mb_s} MB/s = ${r.three.speedup} ×`, met: r.three.speedup >= 1.8 })
if (r.resume != null) targets.push({ what: `kill -9 of the puller at 50 %, then the rerun, ${Math.round(r.resume.bytes / MiB)} MiB`, target: 'rerun moves ≤ 55 %', measured: `${Math.round(r.resume.rerun_fraction * 1000) / 10} %`, met: r.resume.rerun_fraction <= 0.55 })
const result: ResultFile = {
  part: 'pull',
  title: 'Models over the mesh: pull throughput, several sources, resume, start-up while hashing',
  machine: machineInfo(loadAtStart),
  run: { date: new Date().toISOString(), ...gitInfo(), command: `npx tsx scripts/bench/pull.ts${quick ? ' --quick' : ''}`, mode: quick ? 'quick' : 'full', durationSeconds: Math.round((performance.now() - runStarted) / 100) / 10 },
  params: { sizes, peers: 'CLI peers (`start --backend none`) on 127.0.0.1, each its own process; chunks of 8 MiB' },
  data: results,
  targets,
  notes: ['The node:net copy is a socket piping the file to a file, the floor a transfer on this machine can reach; the pull also hashes every chunk and the whole file before its rename.']
}
console.log(`wrote ${writeResult(result)}`)
