// 14. Embeddings through one mesh hop (issue 29): 64 inputs of ~200 tokens (~800 characters) per
// request, POST /v1/embeddings to an entry peer without a backend (one mesh hop to the serving
// peer) vs straight to the serving peer's own API, interleaved in the same run. Both peers run in
// this process on 127.0.0.1; the serving peer's backend embeds synthetically (768 dimensions,
// values from a hash of each input, ~no compute), so the figures are what the mesh and the HTTP
// edge add, not a model's speed. Sequential requests give the added latency; 8 concurrent
// clients per path give throughput.
import { mkdtemp, rm } from 'node:fs/promises'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { createPeer, type Peer } from '../../src/peer.js'
import type { Backend } from '../../src/completion/types.js'
import type { Embedder } from '../../src/embeddings/types.js'
import type { BenchContext, Part } from './context.js'
import { note, status } from './progress.js'
import { summarize } from './stats.js'
import type { Target } from './results.js'

const MODEL = 'synthetic-embed'
const DIMS = 768
const INPUTS = 64
const CHARS_PER_INPUT = 800
const SEQUENTIAL = 200
const SEQUENTIAL_QUICK = 50
const CONCURRENCY = 8
const CONCURRENT_REQUESTS = 160
const CONCURRENT_REQUESTS_QUICK = 40
const TARGET_THROUGHPUT_RATIO = 0.9
const TARGET_ADDED_P50_MS = 2

const syntheticEmbed: Embedder = async (request) => ({
  model: request.model,
  embeddings: request.input.map(input => {
    const text = typeof input === 'string' ? input : input.join(',')
    let h = 2166136261
    for (let i = 0; i < text.length; i += 16) h = Math.imul(h ^ text.charCodeAt(i), 16777619)
    const v = new Float32Array(DIMS)
    for (let i = 0; i < DIMS; i++) { h = Math.imul(h ^ i, 16777619); v[i] = ((h >>> 0) % 2001 - 1000) / 1000 }
    return v
  }),
  prompt_tokens: request.input.length * (CHARS_PER_INPUT / 4)
})

function backend (): Backend {
  return {
    kind: 'test',
    capacity: 8,
    models: async () => [MODEL],
    complete: async () => { throw new Error('embeddings only') },
    health: async () => ({ ok: true, latencyMs: 0 }),
    close: async () => {},
    embed: syntheticEmbed
  }
}

const WORDS = ['mesh', 'peer', 'route', 'vector', 'model', 'token', 'cache', 'agent', 'query', 'document']
const body = JSON.stringify({
  model: MODEL,
  encoding_format: 'float',
  input: Array.from({ length: INPUTS }, (_, i) => {
    let s = `doc ${i}:`
    while (s.length < CHARS_PER_INPUT) s += ' ' + (WORDS[(s.length * 7 + i) % WORDS.length] ?? 'x')
    return s.slice(0, CHARS_PER_INPUT)
  })
})

async function once (url: string): Promise<number> {
  const started = performance.now()
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body })
  const answer = await res.json() as { data?: unknown[] }
  if (res.status !== 200 || answer.data?.length !== INPUTS) throw new Error(`${url}: ${res.status}`)
  return performance.now() - started
}

export const embedPart: Part = {
  name: 'embed',
  title: 'Embeddings through one mesh hop (64 inputs of ~200 tokens per request)',
  async run (ctx: BenchContext) {
    const dirs: string[] = []
    const peers: Peer[] = []
    const start = async (name: string, withBackend: boolean, bootstrap: string[]): Promise<Peer> => {
      const dir = await mkdtemp(join(tmpdir(), 'harombe-bench-embed-'))
      dirs.push(dir)
      const peer = createPeer({ name, dataDir: dir, apiPort: 0, listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, profile: 'test', bootstrap, ...(withBackend ? { backend: backend() } : {}) })
      peers.push(peer)
      await peer.start()
      return peer
    }
    try {
      status('starting a serving peer and an entry peer in process')
      const serving = await start('serve', true, [])
      const entry = await start('entry', false, [serving.info().meshAddrs[0] ?? ''])
      const deadline = Date.now() + 10_000
      while (!entry.completions().models().some(m => m.name === MODEL)) {
        if (Date.now() > deadline) throw new Error('the entry peer never saw the serving peer\'s model')
        await new Promise(resolve => setTimeout(resolve, 50))
      }
      const urls = { direct: `${serving.info().apiUrl}/v1/embeddings`, hop: `${entry.info().apiUrl}/v1/embeddings` }
      for (let i = 0; i < 10; i++) { await once(urls.direct); await once(urls.hop) }

      const n = ctx.quick ? SEQUENTIAL_QUICK : SEQUENTIAL
      status(`${n} sequential requests per path, interleaved`)
      const seq = { direct: [] as number[], hop: [] as number[] }
      for (let i = 0; i < n; i++) {
        seq.direct.push(await once(urls.direct))
        seq.hop.push(await once(urls.hop))
      }
      const total = ctx.quick ? CONCURRENT_REQUESTS_QUICK : CONCURRENT_REQUESTS
      status(`${CONCURRENCY} concurrent clients, ${total} requests per path, paths alternating in rounds`)
      const rate = { direct: [] as number[], hop: [] as number[] }
      // This process's CPU per request (both peers and the clients): tells CPU cost from waiting.
      const cpuMs = { direct: [] as number[], hop: [] as number[] }
      for (let round = 0; round < 4; round++) {
        for (const path of ['direct', 'hop'] as const) {
          let left = total / 4
          const started = performance.now()
          const cpu = process.cpuUsage()
          await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
            while (left-- > 0) await once(urls[path])
          }))
          const used = process.cpuUsage(cpu)
          cpuMs[path].push((used.user + used.system) / 1000 / (total / 4))
          rate[path].push((total / 4) / ((performance.now() - started) / 1000))
        }
      }
      const direct = summarize(seq.direct)
      const hop = summarize(seq.hop)
      const throughput = { direct: rate.direct.reduce((a, b) => a + b, 0) / rate.direct.length, hop: rate.hop.reduce((a, b) => a + b, 0) / rate.hop.length }
      const added = hop.p50 - direct.p50
      const ratio = throughput.hop / throughput.direct
      const meanCpu = { direct: cpuMs.direct.reduce((a, b) => a + b, 0) / cpuMs.direct.length, hop: cpuMs.hop.reduce((a, b) => a + b, 0) / cpuMs.hop.length }
      note(`CPU per request (this process, 8 clients): ${meanCpu.direct.toFixed(2)} ms direct, ${meanCpu.hop.toFixed(2)} ms through the hop`)
      note(`p50 ${direct.p50.toFixed(2)} ms direct, ${hop.p50.toFixed(2)} ms through the hop (+${added.toFixed(2)} ms); throughput ${throughput.direct.toFixed(1)} vs ${throughput.hop.toFixed(1)} req/s (× ${ratio.toFixed(2)})`)
      const targets: Target[] = [
        { what: 'embeddings throughput through one hop vs direct (8 clients)', target: `≥ ${TARGET_THROUGHPUT_RATIO} × direct`, measured: `× ${ratio.toFixed(2)} (${throughput.hop.toFixed(1)} vs ${throughput.direct.toFixed(1)} req/s)`, met: ratio >= TARGET_THROUGHPUT_RATIO },
        { what: 'embeddings added p50 per request (one hop)', target: `≤ ${TARGET_ADDED_P50_MS} ms`, measured: `${added.toFixed(2)} ms (${hop.p50.toFixed(2)} vs ${direct.p50.toFixed(2)} ms)`, met: added <= TARGET_ADDED_P50_MS }
      ]
      return {
        title: embedPart.title,
        params: { model: MODEL, dims: DIMS, inputsPerRequest: INPUTS, charsPerInput: CHARS_PER_INPUT, sequential: n, concurrency: CONCURRENCY, concurrentRequests: total, backend: 'synthetic in-process embedder (hash of each input, no model compute)', peers: 'both in the bench process', loadAvg: loadavg()[0] },
        data: { sequentialMs: { direct, hop }, throughputPerSecond: { direct: throughput.direct, hop: throughput.hop, rounds: rate }, cpuMsPerRequest: { direct: meanCpu.direct, hop: meanCpu.hop, rounds: cpuMs }, addedP50Ms: added, throughputRatio: ratio },
        targets,
        notes: ['Both peers and the client share one Node process and the machine\'s 2 cores (shared with other work): the hop path pays the entry peer\'s HTTP edge, routing, the mesh protocol and the vectors\' re-encoding on the same CPU as the serving peer. A serving peer with a real model spends far longer per request than either path here.']
      }
    } finally {
      await Promise.all(peers.map(async p => { await p.crash().catch(() => {}) }))
      await Promise.all(dirs.map(async d => { await rm(d, { recursive: true, force: true }) }))
    }
  }
}
