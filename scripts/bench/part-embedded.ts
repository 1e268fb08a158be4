// 7. Embedded tiny model (issue 5, item 4): tokens/s of the generated tiny GGUF with the backend
// in the benchmark's own process (direct), through a peer's own API, and through one mesh hop.
// Runs interleaved, so the machine's load hits all three alike.
import { chat, type ChatOutcome } from './client.js'
import { hasAlive, ratio, waitForView, type Part } from './context.js'
import { note, status } from './progress.js'
import { spawnCliPeer } from './procs.js'
import { roundSummary, summarize } from './stats.js'
import { createEmbeddedBackend, defaultThreads } from '../../src/backends/embedded.js'
import { ensureTinyModel, TINY_MODEL_NAME } from '../../src/backends/tiny-gguf.js'

export const embeddedPart: Part = {
  name: 'embedded',
  title: 'Embedded tiny model: tokens/s direct vs through one mesh hop',
  async run (ctx) {
    const repeats = ctx.quick ? 2 : 6
    const maxTokens = ctx.quick ? 128 : 256
    status('starting the embedded peer (tiny model); loading the model here too')
    // The model here is the same generated file (deterministic) with the same default threads;
    // it loads while the peers start.
    const loading = ensureTinyModel(ctx.dataDir('embedded-direct'))
      .then(async modelFile => await createEmbeddedBackend({ modelFile, modelName: TINY_MODEL_NAME }))
    // Awaited below; until then a failure must not count as an unhandled rejection.
    loading.catch(() => {})
    // The serving peer joins the synthetic mesh; its entry peer (no backend) is the hop.
    const mesh = await ctx.syntheticMesh()
    const entry = mesh.entry
    const serving = ctx.track(await spawnCliPeer({ name: 'emb-serve', dataDir: ctx.dataDir('emb-serve'), backend: 'embedded', bootstrap: mesh.serveA.peer.mesh, timeoutMs: 60_000 }))
    mesh.members.push(serving)
    await waitForView(entry.peer.api, v => hasAlive(v, 'emb-serve', TINY_MODEL_NAME), 20_000)
    const backend = await loading
    const direct = async (): Promise<ChatOutcome> => {
      const startedAt = performance.now()
      let first = NaN
      let chars = 0
      try {
        const result = await backend.complete(
          { model: TINY_MODEL_NAME, messages: [{ role: 'user', content: 'Say something short.' }], max_tokens: maxTokens },
          { signal: AbortSignal.timeout(60_000), onDelta: d => { if (Number.isNaN(first)) first = performance.now(); chars += d.content.length } }
        )
        const endedAt = performance.now()
        return { ok: true, status: 200, startedAt, endedAt, ttftMs: first - startedAt, totalMs: endedAt - startedAt, tokens: result.usage.completion_tokens, chars }
      } catch (err: any) {
        const endedAt = performance.now()
        return { ok: false, status: 0, startedAt, endedAt, ttftMs: NaN, totalMs: endedAt - startedAt, tokens: 0, chars, error: String(err?.message ?? err) }
      }
    }
    const paths = [
      { key: 'direct', label: 'embedded backend in the benchmark process (no HTTP)', run: direct },
      { key: 'peer', label: 'client → peer API (embedded backend)', run: async () => await chat(`${serving.peer.api}/v1/chat/completions`, { stream: true, maxTokens, model: TINY_MODEL_NAME, timeoutMs: 60_000 }) },
      { key: 'hop', label: 'client → entry peer → 1 mesh hop → peer (embedded backend)', run: async () => await chat(`${entry.peer.api}/v1/chat/completions`, { stream: true, maxTokens, model: TINY_MODEL_NAME, timeoutMs: 60_000 }) }
    ]
    const byPath = new Map<string, ChatOutcome[]>(paths.map(p => [p.key, []]))
    try {
      for (const p of paths) await p.run()
      for (let r = 0; r < repeats; r++) {
        for (let j = 0; j < paths.length; j++) {
          const p = paths[(r + j) % paths.length] as typeof paths[number]
          status(`repeat ${r + 1}/${repeats}: ${p.key}`)
          byPath.get(p.key)?.push(await p.run())
        }
      }
    } finally {
      await backend.close()
    }

    const results = paths.map(p => {
      const all = byPath.get(p.key) ?? []
      const ok = all.filter(o => o.ok)
      return {
        key: p.key,
        label: p.label,
        runs: all.length,
        failures: all.length - ok.length,
        firstError: all.find(o => !o.ok)?.error,
        tokensPerRun: roundSummary(summarize(ok.map(o => o.tokens)), 0),
        tokensPerSecond: roundSummary(summarize(ok.map(o => o.tokens / (o.totalMs / 1000))), 0),
        // Generation alone: from the first token to the end.
        decodeTokensPerSecond: roundSummary(summarize(ok.map(o => (o.tokens - 1) / ((o.totalMs - o.ttftMs) / 1000))), 0),
        ttftMs: roundSummary(summarize(ok.map(o => o.ttftMs)))
      }
    })
    const rate = (key: string): number => results.find(r => r.key === key)?.tokensPerSecond.p50 ?? NaN
    note(`median tok/s: direct ${Math.round(rate('direct'))}, peer ${Math.round(rate('peer'))}, hop ${Math.round(rate('hop'))}`)
    return {
      title: this.title,
      params: { repeats, maxTokens, model: `${TINY_MODEL_NAME} (generated GGUF, random weights)`, threads: defaultThreads(), temperature: 'backend default (0.8)', stream: true },
      data: {
        paths: results,
        ratios: { 'peer / direct': ratio(rate('peer'), rate('direct')), 'hop / direct': ratio(rate('hop'), rate('direct')), 'hop / peer': ratio(rate('hop'), rate('peer')) }
      },
      targets: [],
      notes: [
        'No numeric target (issue 5, item 4 asks for the figures). The model is tiny and fast, so the mesh and HTTP costs show more than they would with a real model.',
        `The direct backend and the peer each run llama.cpp with ${defaultThreads()} thread(s) on this machine; the peer's model stays loaded (idle) while the direct runs go, and vice versa.`,
        'Through the hop, the serving peer batches deltas for up to 5 ms (DELTA_BATCH_WINDOW_MS in src/protocol/constants.ts) before the first frame: part of the added time to first token.'
      ]
    }
  }
}
