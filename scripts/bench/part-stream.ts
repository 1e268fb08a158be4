// 2. Streaming throughput: one long streamed completion at a time from the zero-cost synthetic
// backend, over each path; tokens/s as the client receives them (SSE events parsed, as an SDK would).
import { chat, type ChatOutcome } from './client.js'
import { ratio, type Part } from './context.js'
import { meshPaths, type PathSpec } from './part-hop.js'
import { note, status } from './progress.js'
import { round, roundSummary, summarize } from './stats.js'
import { SYNTHETIC_TOKEN_CHARS } from '../../src/backends/synthetic.js'

export const streamPart: Part = {
  name: 'stream',
  title: 'Streaming throughput (one long completion at a time)',
  async run (ctx) {
    const paths = await meshPaths(ctx)
    const tokens = ctx.quick ? 10_000 : 40_000
    const repeats = ctx.quick ? 2 : 5
    const byPath = new Map<string, ChatOutcome[]>(paths.map(p => [p.key, []]))
    let corrupt = 0

    // One short stream per path first: connections and JIT warm, as in the other parts.
    for (const p of paths) await chat(p.endpoint, { stream: true, maxTokens: 2_000, model: p.model })
    for (let r = 0; r < repeats; r++) {
      for (let j = 0; j < paths.length; j++) {
        const p = paths[(r + j) % paths.length] as PathSpec
        status(`repeat ${r + 1}/${repeats}: ${p.key} (${tokens} tokens)`)
        const o = await chat(p.endpoint, { stream: true, maxTokens: tokens, model: p.model, timeoutMs: 60_000 })
        // Every synthetic token has the same length: a mismatch means text was lost or duplicated.
        if (o.ok && (o.tokens !== tokens || o.chars !== tokens * SYNTHETIC_TOKEN_CHARS)) corrupt++
        byPath.get(p.key)?.push(o)
      }
    }

    const results = paths.map(p => {
      const all = byPath.get(p.key) ?? []
      const ok = all.filter(o => o.ok)
      const rates = ok.map(o => o.tokens / (o.totalMs / 1000))
      return {
        key: p.key,
        label: p.label,
        streams: all.length,
        failures: all.length - ok.length,
        firstError: all.find(o => !o.ok)?.error,
        tokensPerSecond: roundSummary(summarize(rates), 0),
        ttftMs: roundSummary(summarize(ok.map(o => o.ttftMs))),
        totalMs: roundSummary(summarize(ok.map(o => o.totalMs)))
      }
    })
    const rate = (key: string): number => results.find(r => r.key === key)?.tokensPerSecond.p50 ?? NaN
    const hopVsDirect = ratio(rate('hop'), rate('direct'))
    note(`median tok/s: direct ${Math.round(rate('direct'))}, peer ${Math.round(rate('peer'))}, hop ${Math.round(rate('hop'))} (hop/direct ${hopVsDirect})`)
    return {
      title: this.title,
      params: { tokensPerStream: tokens, repeats, concurrency: 1, backend: 'synthetic, zero cost (tokens emitted in bursts of 64, yielding to the event loop between bursts)' },
      data: {
        paths: results,
        ratios: {
          'peer / direct': ratio(rate('peer'), rate('direct')),
          'hop / direct': hopVsDirect,
          'hop / peer': ratio(rate('hop'), rate('peer')),
          'peerHttp / direct': ratio(rate('peerHttp'), rate('direct')),
          'hopHttp / direct': ratio(rate('hopHttp'), rate('direct')),
          'hopHttp / peerHttp': ratio(rate('hopHttp'), rate('peerHttp'))
        },
        corruptStreams: corrupt
      },
      targets: [
        { what: 'tokens/s through one mesh hop vs direct (median of repeats)', target: '≥ 95 % of direct', measured: `${round(hopVsDirect * 100, 1)} %`, met: hopVsDirect >= 0.95 },
        { what: 'tokens/s through one mesh hop, synthetic backend at zero cost', target: '≥ 50,000 tok/s', measured: `${Math.round(rate('hop')).toLocaleString('en-US')} tok/s`, met: rate('hop') >= 50_000 }
      ],
      notes: [
        'tokens/s = completion tokens / (request sent → last byte); time to first token is included but is ~1 ms here.',
        'The direct server sends one SSE event per token (as llama-server and vLLM do); a peer batches deltas on the mesh (5 ms / 1 KiB) and writes one SSE event per batch, so its client parses fewer, larger events.',
        ...(corrupt > 0 ? [`${corrupt} stream(s) delivered a wrong number of tokens or characters`] : [])
      ]
    }
  }
}
