// 1. Hop overhead: short streamed completions, one at a time, round-robin over the paths so
// machine noise hits all of them alike. Time to first token and total time per path.
import { chat, type ChatOutcome } from './client.js'
import { MODEL_INPROC, MODEL_VIA_HTTP, ratio, type BenchContext, type Part } from './context.js'
import { note, status } from './progress.js'
import { round, roundSummary, summarize } from './stats.js'

export interface PathSpec {
  key: string
  label: string
  endpoint: string
  model: string
  /** The peer that must have served it (x-harombe-node); none for the direct server. */
  servedBy?: string
}

/** The five paths, direct first. Shared with the streaming part. */
export async function meshPaths (ctx: BenchContext): Promise<PathSpec[]> {
  const mesh = await ctx.syntheticMesh()
  const e = mesh.endpoints
  return [
    { key: 'direct', label: 'client → synthetic server', endpoint: e.direct, model: MODEL_INPROC },
    { key: 'peer', label: 'client → serving peer (in-process synthetic backend)', endpoint: e.serveA, model: MODEL_INPROC, servedBy: 'serve-a' },
    { key: 'hop', label: 'client → entry peer → 1 mesh hop → serving peer (in-process)', endpoint: e.entry, model: MODEL_INPROC, servedBy: 'serve-a' },
    { key: 'peerHttp', label: 'client → serving peer → openai backend → synthetic server', endpoint: e.serveHttp, model: MODEL_VIA_HTTP, servedBy: 'serve-http' },
    { key: 'hopHttp', label: 'client → entry peer → 1 mesh hop → serving peer → openai backend → synthetic server', endpoint: e.entry, model: MODEL_VIA_HTTP, servedBy: 'serve-http' }
  ]
}

/** Tokens in a "short completion". */
const SHORT_TOKENS = 16

export const hopPart: Part = {
  name: 'hop',
  title: 'Hop overhead (short streamed completions)',
  async run (ctx) {
    const paths = await meshPaths(ctx)
    const rounds = ctx.quick ? 40 : 300
    const warmup = ctx.quick ? 5 : 30
    const byPath = new Map<string, ChatOutcome[]>(paths.map(p => [p.key, []]))
    const wrongNode = new Map<string, number>(paths.map(p => [p.key, 0]))

    for (let i = 0; i < warmup; i++) {
      status(`warm-up ${i + 1}/${warmup}`)
      for (const p of paths) await chat(p.endpoint, { stream: true, maxTokens: SHORT_TOKENS, model: p.model })
    }
    for (let i = 0; i < rounds; i++) {
      if (i % 10 === 0) status(`round ${i}/${rounds} (${paths.length} paths, one request each)`)
      // Rotate the order each round: no path is always first after an idle gap.
      for (let j = 0; j < paths.length; j++) {
        const p = paths[(i + j) % paths.length] as PathSpec
        const outcome = await chat(p.endpoint, { stream: true, maxTokens: SHORT_TOKENS, model: p.model })
        byPath.get(p.key)?.push(outcome)
        if (outcome.ok && p.servedBy != null && outcome.node !== p.servedBy) wrongNode.set(p.key, (wrongNode.get(p.key) ?? 0) + 1)
      }
    }

    const results = paths.map(p => {
      const all = byPath.get(p.key) ?? []
      const ok = all.filter(o => o.ok)
      return {
        key: p.key,
        label: p.label,
        requests: all.length,
        failures: all.length - ok.length,
        firstError: all.find(o => !o.ok)?.error,
        servedByOther: wrongNode.get(p.key) ?? 0,
        tokensPerRequest: summarize(ok.map(o => o.tokens)).p50,
        ttftMs: roundSummary(summarize(ok.map(o => o.ttftMs))),
        totalMs: roundSummary(summarize(ok.map(o => o.totalMs)))
      }
    })
    const get = (key: string): typeof results[number] => results.find(r => r.key === key) as typeof results[number]
    const direct = get('direct')
    const added = (key: string, base: string): Record<string, number> => {
      const a = get(key)
      const b = get(base)
      return {
        ttftP50Ms: round(a.ttftMs.p50 - b.ttftMs.p50),
        ttftP90Ms: round(a.ttftMs.p90 - b.ttftMs.p90),
        ttftP99Ms: round(a.ttftMs.p99 - b.ttftMs.p99),
        totalP50Ms: round(a.totalMs.p50 - b.totalMs.p50),
        totalP90Ms: round(a.totalMs.p90 - b.totalMs.p90),
        totalP99Ms: round(a.totalMs.p99 - b.totalMs.p99),
        totalP50Ratio: ratio(a.totalMs.p50, b.totalMs.p50)
      }
    }
    const comparisons = {
      'peer vs direct': added('peer', 'direct'),
      'hop vs direct': added('hop', 'direct'),
      'hop vs peer (the mesh hop alone)': added('hop', 'peer'),
      'peerHttp vs direct': added('peerHttp', 'direct'),
      'hopHttp vs peerHttp (the mesh hop alone)': added('hopHttp', 'peerHttp')
    }
    note(`p50 total: direct ${direct.totalMs.p50.toFixed(2)} ms, peer ${get('peer').totalMs.p50.toFixed(2)} ms, hop ${get('hop').totalMs.p50.toFixed(2)} ms`)
    const failures = results.reduce((s, r) => s + r.failures, 0)
    return {
      title: this.title,
      params: { rounds, warmupRounds: warmup, maxTokens: SHORT_TOKENS, concurrency: 1, stream: true, backend: 'synthetic, 0 ms to first token, zero cost per token' },
      data: { paths: results, comparisons },
      targets: [],
      notes: [
        'No numeric target in the issue for hop overhead: the figures are the added milliseconds.',
        ...(failures > 0 ? [`${failures} request(s) failed; first error: ${results.find(r => r.firstError != null)?.firstError ?? ''}`] : [])
      ]
    }
  }
}
