// 2. Streaming throughput: one long streamed completion at a time from the zero-cost synthetic
// backend, over each path; tokens/s as the client receives them (SSE events parsed, as an SDK would).
// Every path must carry the same answer: a stream that fails, comes back short or long, or is
// served by the wrong peer is a failure of its path, and a target over a failed path is missed.
import { chat, type ChatOutcome } from './client.js'
import { MESH_MAX_TOKENS_CAP, ratio, type Part } from './context.js'
import { meshPaths, type PathSpec } from './part-hop.js'
import { note, status } from './progress.js'
import { round, roundSummary, summarize } from './stats.js'
import { streamFault } from './stream-fault.js'
import { DELTA_BATCH_MAX_CHARS, DELTA_BATCH_WINDOW_MS } from '../../src/protocol/constants.js'

export const streamPart: Part = {
  name: 'stream',
  title: 'Streaming throughput (one long completion at a time)',
  async run (ctx) {
    const paths = await meshPaths(ctx)
    const tokens = ctx.quick ? 10_000 : 40_000
    const repeats = ctx.quick ? 2 : 5
    // A cap below the stream would cut the mesh paths short and compare them on less work.
    if (tokens > MESH_MAX_TOKENS_CAP) throw new Error(`${tokens} tokens per stream is above the mesh peers' --max-tokens-cap ${MESH_MAX_TOKENS_CAP}`)
    const byPath = new Map<string, Array<{ o: ChatOutcome, fault?: string }>>(paths.map(p => [p.key, []]))

    // One short stream per path first: connections and JIT warm, as in the other parts.
    for (const p of paths) await chat(p.endpoint, { stream: true, maxTokens: 2_000, model: p.model })
    for (let r = 0; r < repeats; r++) {
      for (let j = 0; j < paths.length; j++) {
        const p = paths[(r + j) % paths.length] as PathSpec
        status(`repeat ${r + 1}/${repeats}: ${p.key} (${tokens} tokens)`)
        const o = await chat(p.endpoint, { stream: true, maxTokens: tokens, model: p.model, timeoutMs: 60_000 })
        byPath.get(p.key)?.push({ o, fault: streamFault(o, tokens, p.servedBy) })
      }
    }

    const results = paths.map(p => {
      const all = byPath.get(p.key) ?? []
      // Rates only from whole answers: a short stream would look fast.
      const whole = all.filter(x => x.fault == null).map(x => x.o)
      return {
        key: p.key,
        label: p.label,
        streams: all.length,
        failures: all.length - whole.length,
        /** Of the failures: streams that ended normally with a wrong token or character count. */
        corrupt: all.filter(x => x.o.ok && x.fault != null).length,
        firstError: all.find(x => x.fault != null)?.fault,
        tokensPerSecond: roundSummary(summarize(whole.map(o => o.tokens / (o.totalMs / 1000))), 0),
        ttftMs: roundSummary(summarize(whole.map(o => o.ttftMs))),
        totalMs: roundSummary(summarize(whole.map(o => o.totalMs)))
      }
    })
    const get = (key: string): typeof results[number] | undefined => results.find(r => r.key === key)
    const rate = (key: string): number => get(key)?.tokensPerSecond.p50 ?? NaN
    /** Every stream of every named path was a whole answer. */
    const intact = (...keys: string[]): boolean => keys.every(k => get(k) != null && get(k)?.failures === 0)
    const failed = (...keys: string[]): string => {
      const bad = keys.filter(k => !intact(k)).map(k => `${k}: ${get(k)?.failures ?? '?'} of ${get(k)?.streams ?? '?'} streams failed`)
      return bad.length > 0 ? ` — ${bad.join('; ')}` : ''
    }
    const hopVsDirect = ratio(rate('hop'), rate('direct'))
    const corrupt = results.reduce((s, r) => s + r.corrupt, 0)
    const failures = results.reduce((s, r) => s + r.failures, 0)
    note(`median tok/s: direct ${Math.round(rate('direct'))}, peer ${Math.round(rate('peer'))}, hop ${Math.round(rate('hop'))} (hop/direct ${hopVsDirect}); failed streams ${failures}`)
    return {
      title: this.title,
      params: {
        tokensPerStream: tokens,
        repeats,
        concurrency: 1,
        maxTokensCap: MESH_MAX_TOKENS_CAP,
        backend: 'synthetic, zero cost (tokens emitted in bursts of 64, yielding to the event loop between bursts)'
      },
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
        corruptStreams: corrupt,
        failedStreams: failures
      },
      targets: [
        { what: 'tokens/s through one mesh hop vs direct (median of repeats; every stream on both paths whole)', target: '≥ 95 % of direct', measured: `${round(hopVsDirect * 100, 1)} %${failed('hop', 'direct')}`, met: intact('hop', 'direct') && hopVsDirect >= 0.95 },
        { what: 'tokens/s through one mesh hop, synthetic backend at zero cost (every stream whole)', target: '≥ 50,000 tok/s', measured: `${Math.round(rate('hop')).toLocaleString('en-US')} tok/s${failed('hop')}`, met: intact('hop') && rate('hop') >= 50_000 }
      ],
      notes: [
        `tokens/s = completion tokens / (request sent → last byte), over whole answers only; time to first token is included (median on the hop path: ${round(get('hop')?.ttftMs.p50 ?? NaN, 2)} ms).`,
        `Every path streams the same ${tokens.toLocaleString('en-US')} tokens: the mesh's peers run with --max-tokens-cap ${MESH_MAX_TOKENS_CAP.toLocaleString('en-US')}. A stream that fails, ends with a wrong token or character count, or is served by another peer counts as a failure of its path (the "failed" column) and is left out of the rates; a target over a path with a failure is missed.`,
        `The direct server sends one SSE event per token (as llama-server and vLLM do); a peer batches deltas on the mesh (${DELTA_BATCH_WINDOW_MS} ms / ${DELTA_BATCH_MAX_CHARS.toLocaleString('en-US')} characters) and writes one SSE event per batch, so its client parses fewer, larger events.`,
        ...(failures > 0 ? [`${failures} stream(s) failed (${corrupt} of them with a wrong token or character count); first fault per path: ${results.filter(r => r.firstError != null).map(r => `${r.key}: ${r.firstError ?? ''}`).join('; ')}`] : [])
      ]
    }
  }
}
