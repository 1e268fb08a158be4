// The four workloads of `bench:affinity` (issue 23) as drivers over an injected `send`, so the
// same code drives real peers in the benchmark and a fake sender in the unit test:
//   (a) conversations of several turns, each with its own long system prompt, a few at a time;
//   (b) one-shot requests sharing one long system prompt (one kind of agent);
//   (c) one-shot requests sharing nothing;
//   (d) one hot conversation (several clients growing the same history) plus background one-shots.
// Prompts are words the generated models' vocabulary holds whole, so a word is one token and a
// prompt's length in tokens is known before it is sent. Every prompt is derived from a tag, so two
// runs (policies, workloads) never share a prefix by accident: a serving peer's cache from one
// policy's run cannot help the next.
import { mulberry32 } from '../../src/util/prng.js'

export interface Message {
  role: 'system' | 'user' | 'assistant'
  content: string
}

/** What one request returned, as the sender measured it (times from performance.now()). */
export interface Reply {
  ok: boolean
  startedAt: number
  endedAt: number
  /** First non-empty content; NaN if none. */
  ttftMs: number
  /** `x-harombe-node`: the peer that served it. */
  node?: string
  content: string
  promptTokens?: number
  /** usage.prompt_tokens_details.cached_tokens; absent when the answer did not report it. */
  cachedTokens?: number
  error?: string
}

/** `entry`: which entry peer (index) the request goes to. */
export type Send = (messages: Message[], entry: number) => Promise<Reply>

export type Kind = 'first' | 'follow-up' | 'one-shot' | 'background'

/** One request of a workload, times relative to the workload's start (ms). */
export interface Sample {
  kind: Kind
  /** Conversation id within the workload (absent for one-shots). */
  conv?: number
  /** Turn within the conversation, from 0. */
  turn?: number
  entry: number
  ok: boolean
  start: number
  end: number
  ttft: number
  node?: string
  prompt?: number
  cached?: number
  error?: string
}

// Words the generated GGUF's vocabulary (src/backends/tiny-gguf.ts) has as single tokens.
const WORDS = (
  'the a an of to and in is it that for on with as was be by this are or from at have not but ' +
  'they we you he she his her their our your one all will can has there what so if about which ' +
  'when more no out up do time into some could them other than then now only its also new over ' +
  'first after two most way may these like any where just very well because good through each ' +
  'mesh peer node model token stream route gossip cluster network prompt answer question reply ' +
  'machine server client request message signal queue latency tier local remote fast slow small ' +
  'large tiny quiet bright river mountain forest ocean cloud light shadow stone garden window ' +
  'morning evening winter summer north south east west green blue red silver golden ancient'
).split(' ')

/** FNV-1a: a stable 32-bit seed from a tag. */
function seedOf (tag: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < tag.length; i++) {
    h ^= tag.charCodeAt(i)
    h = Math.imul(h, 0x01000193) >>> 0
  }
  return h
}

/** `count` words chosen by a PRNG seeded from `tag`: the same tag gives the same text. */
export function prose (tag: string, count: number): string {
  const random = mulberry32(seedOf(tag))
  const out: string[] = []
  for (let i = 0; i < count; i++) out.push(WORDS[Math.floor(random() * WORDS.length)] as string)
  return out.join(' ')
}

export interface Sizes {
  /** Words (≈ tokens) of a long system prompt. */
  systemWords: number
  /** Words of a user turn. */
  userWords: number
}

const sample = (kind: Kind, entry: number, t0: number, r: Reply, conv?: number, turn?: number): Sample => ({
  kind,
  ...(conv != null ? { conv } : {}),
  ...(turn != null ? { turn } : {}),
  entry,
  ok: r.ok,
  start: r.startedAt - t0,
  end: r.endedAt - t0,
  ttft: r.ttftMs,
  ...(r.node != null ? { node: r.node } : {}),
  ...(r.promptTokens != null ? { prompt: r.promptTokens } : {}),
  ...(r.cachedTokens != null ? { cached: r.cachedTokens } : {}),
  ...(r.error != null ? { error: r.error } : {})
})

/** Runs `jobs` with at most `concurrency` at once, in order of index. */
async function pool (jobs: number, concurrency: number, job: (i: number) => Promise<void>): Promise<void> {
  let next = 0
  await Promise.all(Array.from({ length: Math.min(concurrency, jobs) }, async () => {
    while (next < jobs) await job(next++)
  }))
}

export interface ConversationsInit extends Sizes {
  tag: string
  conversations: number
  turns: number
  concurrency: number
  /** Entry peers to spread over: turn t of conversation c goes to entry (c + t) % entries, so with two every follow-up arrives through the other entry peer. */
  entries: number
  send: Send
}

/** (a) Conversations: each grows by one user turn and the answer it got, turn after turn. */
export async function runConversations (init: ConversationsInit): Promise<Sample[]> {
  const out: Sample[] = []
  const t0 = performance.now()
  await pool(init.conversations, init.concurrency, async (c) => {
    const messages: Message[] = [{ role: 'system', content: prose(`${init.tag}/system/${c}`, init.systemWords) }]
    for (let t = 0; t < init.turns; t++) {
      messages.push({ role: 'user', content: prose(`${init.tag}/user/${c}/${t}`, init.userWords) })
      const entry = (c + t) % init.entries
      const reply = await init.send(messages.slice(), entry)
      out.push(sample(t === 0 ? 'first' : 'follow-up', entry, t0, reply, c, t))
      // A failed turn still leaves a conversation to continue (with an empty answer), as a client would retry.
      messages.push({ role: 'assistant', content: reply.content })
    }
  })
  return out
}

export interface OneShotsInit extends Sizes {
  tag: string
  requests: number
  concurrency: number
  /** true: one system prompt for all (b); false: each its own (c). */
  shared: boolean
  entries: number
  send: Send
}

/** (b) and (c): one-shot requests, a system prompt and one user question each. */
export async function runOneShots (init: OneShotsInit): Promise<Sample[]> {
  const out: Sample[] = []
  const t0 = performance.now()
  await pool(init.requests, init.concurrency, async (i) => {
    const system = prose(init.shared ? `${init.tag}/system` : `${init.tag}/system/${i}`, init.systemWords)
    const entry = i % init.entries
    const reply = await init.send([{ role: 'system', content: system }, { role: 'user', content: prose(`${init.tag}/user/${i}`, init.userWords) }], entry)
    out.push(sample('one-shot', entry, t0, reply))
  })
  return out
}

export interface HotInit extends Sizes {
  tag: string
  /** Clients sending the hot conversation's next turn, each as soon as its previous one ended. */
  hotClients: number
  /** Requests per hot client. */
  hotTurns: number
  /** Clients sending one-shots with distinct prompts while the hot conversation runs. */
  backgroundClients: number
  /** Words of a background one-shot's system prompt. */
  backgroundWords: number
  /** A bound on background requests, whatever the speed. */
  maxBackground: number
  send: Send
}

/**
 * (d) One hot conversation: every hot client sends the shared history so far plus its own user
 * turn, and appends both turn and answer when the answer arrives (an agent with parallel
 * sub-tasks). The background keeps the other peers busy with prompts that share nothing.
 */
export async function runHot (init: HotInit): Promise<Sample[]> {
  const out: Sample[] = []
  const t0 = performance.now()
  const history: Message[] = [{ role: 'system', content: prose(`${init.tag}/system/hot`, init.systemWords) }]
  let hotDone = false
  let background = 0
  const hot = Promise.all(Array.from({ length: init.hotClients }, async (_, k) => {
    for (let t = 0; t < init.hotTurns; t++) {
      const user: Message = { role: 'user', content: prose(`${init.tag}/user/${k}/${t}`, init.userWords) }
      const turn = (history.length - 1) / 2
      const reply = await init.send([...history, user], 0)
      out.push(sample(turn === 0 ? 'first' : 'follow-up', 0, t0, reply, 0, turn))
      history.push(user, { role: 'assistant', content: reply.content })
    }
  })).finally(() => { hotDone = true })
  const rest = Promise.all(Array.from({ length: init.backgroundClients }, async () => {
    while (!hotDone && background < init.maxBackground) {
      const i = background++
      const reply = await init.send([
        { role: 'system', content: prose(`${init.tag}/background/${i}`, init.backgroundWords) },
        { role: 'user', content: prose(`${init.tag}/background-user/${i}`, init.userWords) }
      ], 0)
      out.push(sample('background', 0, t0, reply))
    }
  }))
  await Promise.all([hot, rest])
  return out
}
