// 14. Conversations stay warm (issue 23): routing policy against routing policy, in one run, on
// three serving peers with the embedded backend and a generated model heavy enough that prompt
// evaluation costs real time, behind entry peers with no backend. Four workloads (see
// affinity-workloads.ts), each run once per policy, policies in a rotating order so none always
// goes first; then workload (a) again with two entry peers sharing the clients, every follow-up
// arriving through the other entry peer than its previous turn. Answers are 16 tokens: the
// benchmark measures prompt evaluation, which is what a cache saves.
import { execFileSync } from 'node:child_process'
import { loadavg } from 'node:os'
import { chat } from './client.js'
import { hasAlive, sleep, waitForView, type Part, type PeerProc } from './context.js'
import { note, status } from './progress.js'
import { PEER_BIN, spawnCliPeer } from './procs.js'
import { round } from './stats.js'
import { runConversations, runHot, runOneShots, type Message, type Reply, type Sample, type Send } from './affinity-workloads.js'
import { affinityTargets, figures, routePolicies, type AffinityData, type AffinityRun, type Setup, type Workload } from './affinity-stats.js'
import { defaultThreads } from '../../src/backends/embedded.js'
import { ensureGeneratedModel, HEAVY_MODEL_NAME, HEAVY_SHAPE } from '../../src/backends/tiny-gguf.js'

/** The policies issue 23 compares: today's routing, in-flight counting only, full affinity. */
const POLICIES = ['announced', 'in-flight', 'affinity'] as const
const SERVING = ['serve-1', 'serve-2', 'serve-3']
/** Small answers: the figures are about prompt evaluation. */
const MAX_TOKENS = 16
/** A queued 1,000-token prompt on a loaded 2-core machine can take a minute; past this it failed. */
const REQUEST_TIMEOUT_MS = 300_000
/** Announced load is up to a second old: every run starts after the previous one's load has aged out. */
const PAUSE_MS = 2_000

/**
 * Sizes in words; the generated model's tokenizer spells most words out (about 5 tokens a word,
 * measured), so 190 words make a ~1,000-token system prompt. The result file keeps the measured
 * prompt tokens.
 */
const FULL = {
  systemWords: 190,
  userWords: 8,
  a: { conversations: 8, turns: 4, concurrency: 4 },
  b: { requests: 16, concurrency: 4 },
  c: { requests: 16, concurrency: 4, systemWords: 55 },
  d: { hotClients: 2, hotTurns: 3, backgroundClients: 2, backgroundWords: 50, maxBackground: 8 },
  twoEntries: { conversations: 4, turns: 3, concurrency: 4 }
}
const QUICK: typeof FULL = {
  systemWords: 60,
  userWords: 6,
  a: { conversations: 3, turns: 2, concurrency: 3 },
  b: { requests: 4, concurrency: 2 },
  c: { requests: 4, concurrency: 2, systemWords: 30 },
  d: { hotClients: 2, hotTurns: 2, backgroundClients: 1, backgroundWords: 30, maxBackground: 3 },
  twoEntries: { conversations: 2, turns: 2, concurrency: 2 }
}

function peerHelp (): string {
  try {
    return execFileSync(process.execPath, [PEER_BIN, 'start', '--help'], { encoding: 'utf8', timeout: 60_000, stdio: ['ignore', 'pipe', 'pipe'] })
  } catch (err: any) {
    return String(err?.stdout ?? '')
  }
}

export const affinityPart: Part = {
  name: 'affinity',
  title: 'Conversations stay warm (issue 23): routing policy against policy, prompt cache',
  async run (ctx) {
    const sizes = ctx.quick ? QUICK : FULL
    const listed = routePolicies(peerHelp(), POLICIES)
    const policyFlag = listed.length > 0
    // Only the policies this peer offers, in the issue's order; today's peer offers none but routes as `announced`.
    const policies: string[] = policyFlag ? listed : ['announced']
    note(policyFlag ? `--route-policy supported: comparing ${policies.join(', ')}` : 'this peer has no --route-policy: running today\'s routing only, labelled announced')

    status('generating the heavy model (110 MB)')
    const modelFile = await ensureGeneratedModel(ctx.dataDir('heavy-model'), HEAVY_SHAPE)
    status('starting 3 serving peers (embedded backend, heavy model)')
    const serve = async (name: string, bootstrap?: string[]): Promise<PeerProc> =>
      ctx.track(await spawnCliPeer({ name, dataDir: ctx.dataDir(name), backend: 'embedded', modelFile, bootstrap, timeoutMs: 180_000 }))
    const first = await serve(SERVING[0] as string)
    const serving = [first, ...await Promise.all(SERVING.slice(1).map(async n => await serve(n, first.peer.mesh)))]
    status('starting the entry peers (no backend)')
    const entries = new Map<string, PeerProc[]>()
    for (const policy of policies) {
      const args = policyFlag ? ['--route-policy', policy] : []
      const pair = await Promise.all([`entry-${policy}`, `entry-${policy}-2`].map(async name =>
        ctx.track(await spawnCliPeer({ name, dataDir: ctx.dataDir(name), backend: 'none', bootstrap: first.peer.mesh, extraArgs: args, timeoutMs: 60_000 }))))
      entries.set(policy, pair)
    }
    status('waiting until every entry peer sees the 3 serving peers alive')
    for (const pair of entries.values()) {
      for (const e of pair) await waitForView(e.peer.api, v => SERVING.every(n => hasAlive(v, n, HEAVY_MODEL_NAME)), 60_000)
    }
    // A first request loads what a first request loads (buffers, graph); short and unrelated to any workload.
    status('warming each serving peer with one short request')
    for (const s of serving) await chat(`${s.peer.api}/v1/chat/completions`, { stream: true, maxTokens: 4, model: HEAVY_MODEL_NAME, timeoutMs: REQUEST_TIMEOUT_MS })

    const sender = (policy: string, label: string, total: number): Send => {
      const pair = entries.get(policy) as PeerProc[]
      let done = 0
      return async (messages: Message[], entry: number): Promise<Reply> => {
        const e = pair[entry] as PeerProc
        const o = await chat(`${e.peer.api}/v1/chat/completions`, { stream: true, maxTokens: MAX_TOKENS, model: HEAVY_MODEL_NAME, messages, keepContent: true, timeoutMs: REQUEST_TIMEOUT_MS })
        status(`${label}, ${policy}: ${++done}/${total} requests`)
        return { ok: o.ok, startedAt: o.startedAt, endedAt: o.endedAt, ttftMs: o.ttftMs, content: o.content ?? '', ...(o.node != null ? { node: o.node } : {}), ...(o.promptTokens != null ? { promptTokens: o.promptTokens } : {}), ...(o.cachedTokens != null ? { cachedTokens: o.cachedTokens } : {}), ...(o.error != null ? { error: o.error } : {}) }
      }
    }
    const { systemWords, userWords } = sizes
    // Every run's prompts carry its own tag, so no run finds another run's prompt in a cache.
    const plan: Array<{ setup: Setup, workload: Workload, label: string, run: (tag: string, send: (total: number) => Send) => Promise<Sample[]> }> = [
      { setup: '1 entry', workload: 'a', label: '(a) conversations', run: async (tag, send) => await runConversations({ tag, systemWords, userWords, ...sizes.a, entries: 1, send: send(sizes.a.conversations * sizes.a.turns) }) },
      { setup: '1 entry', workload: 'b', label: '(b) one system prompt', run: async (tag, send) => await runOneShots({ tag, systemWords, userWords, ...sizes.b, shared: true, entries: 1, send: send(sizes.b.requests) }) },
      { setup: '1 entry', workload: 'c', label: '(c) nothing shared', run: async (tag, send) => await runOneShots({ tag, userWords, ...sizes.c, shared: false, entries: 1, send: send(sizes.c.requests) }) },
      { setup: '1 entry', workload: 'd', label: '(d) hot conversation', run: async (tag, send) => await runHot({ tag, systemWords, userWords, ...sizes.d, send: send(sizes.d.hotClients * sizes.d.hotTurns + sizes.d.maxBackground) }) },
      { setup: '2 entries', workload: 'a', label: '(a) conversations, 2 entry peers', run: async (tag, send) => await runConversations({ tag, systemWords, userWords, ...sizes.twoEntries, entries: 2, send: send(sizes.twoEntries.conversations * sizes.twoEntries.turns) }) }
    ]
    const runs: AffinityRun[] = []
    const nonce = Date.now().toString(36)
    for (const [i, step] of plan.entries()) {
      const order = policies.map((_, j) => policies[(i + j) % policies.length] as string)
      for (const policy of order) {
        await sleep(PAUSE_MS)
        const loadStart = loadavg()[0] ?? NaN
        const samples = await step.run(`${nonce}/${step.setup}/${step.workload}/${policy}`, total => sender(policy, step.label, total))
        const f = figures(samples, SERVING)
        const load: [number, number] = [round(loadStart, 1), round(loadavg()[0] ?? NaN, 1)]
        runs.push({ setup: step.setup, workload: step.workload, policy, figures: f, load, samples })
        note(`${step.label}, ${policy}: wall ${f.wallS} s, TTFT p50 first ${f.ttftFirstMs.p50} ms / follow-up ${f.ttftFollowUpMs.p50} ms, cached ${f.cachedReported ? `${Math.round(100 * f.cachedShare)} %` : 'not reported'}, per peer ${Object.values(f.perPeer).join('/')}, ${f.failed} failed`)
      }
    }

    const data: AffinityData = { policies, policyFlag, servingPeers: SERVING, runs }
    const firstTurns = runs.filter(r => r.workload === 'a' && r.setup === '1 entry').flatMap(r => r.samples.filter(s => s.kind === 'first' && s.prompt != null).map(s => s.prompt as number))
    const meanPrompt = firstTurns.length === 0 ? NaN : Math.round(firstTurns.reduce((x, y) => x + y, 0) / firstTurns.length)
    return {
      title: this.title,
      params: {
        policies,
        routePolicyFlag: policyFlag,
        model: `${HEAVY_MODEL_NAME} (generated GGUF: n_embd ${HEAVY_SHAPE.nEmbd}, ${HEAVY_SHAPE.blocks} blocks, n_ff ${HEAVY_SHAPE.nFf}, F32)`,
        servingPeers: `${SERVING.length} × --backend embedded --model-file ${HEAVY_MODEL_NAME}.gguf (2 sequences, ${defaultThreads()} llama.cpp thread(s) each)`,
        entryPeers: 'per policy 2 × --backend none (the second only in the 2-entry run)',
        maxTokens: MAX_TOKENS,
        stream: true,
        sizes,
        firstTurnPromptTokens: meanPrompt,
        pauseBetweenRunsMs: PAUSE_MS
      },
      data,
      targets: affinityTargets(data),
      notes: [
        'The machine (2 cores) is shared with 5 other engineers working at the same time: absolute seconds move with their load (the 1-minute load average at the start and end of the run is given with it). Policies are compared side by side in one run: for each workload every policy runs once, back to back, in a rotating order, on the same serving peers.',
        policyFlag ? `Policies are set on the entry peers with \`start --route-policy\`; one pair of entry peers per policy.` : 'This peer has no `--route-policy` option: only today\'s routing ran, labelled `announced`; the ratio targets need the other policies and are not judged.',
        `Each serving peer evaluates its 2 sequences in one llama.cpp context on ${defaultThreads()} thread(s), and node-llama-cpp evaluates both sequences' pending tokens in the same batches: a follow-up that lands beside another conversation's first turn waits for that long prompt, cached or not. Follow-up TTFT therefore includes other conversations' prompt evaluation whenever 4 conversations share 3 peers.`,
        'TTFT is from sending the request to its first content, including any wait for a free sequence on the serving peer. In flight per peer is counted from the clients (sent → answer ended, by `x-harombe-node`). Cached share = usage.prompt_tokens_details.cached_tokens / usage.prompt_tokens summed over answers; "not reported" when no answer carried the field.'
      ]
    }
  }
}
