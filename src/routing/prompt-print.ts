// A request's prompt as the prefix index sees it: the conversation rendered in order (system
// messages, tools, then the other messages), hashed as it goes, with the running hash taken at
// every block's end. Block i's hash covers everything before it, so equal hashes mean an equal
// prefix (up to hash collisions: the index is approximate by design, a wrong guess only costs a
// cold prompt). Characters, not tokens, as SGLang's router does: no tokenizer on the entry peer.
import type { CompletionRequest } from '../completion/types.js'

export interface PromptPrint {
  /** The running hash at the end of each whole block: blocks[i] covers characters [0, (i + 1) × blockChars). */
  blocks: number[]
  /** Length of the rendered prompt, in UTF-16 code units. */
  chars: number
  /** The rendezvous key when nothing is cached: the session key's hash, else the first block's. */
  anchor: number
  anchorKind: AnchorKind
  /** Hash of the explicit affinity key (with the model), when the request names one. */
  key?: number
}

export type AnchorKind = 'session key' | 'system prompt' | 'first message'

/** The fields the print reads: a CompletionRequest fits. */
export type PrintableRequest = Pick<CompletionRequest, 'messages' | 'tools' | 'model' | 'affinity_key'>

// Separators no text contains, so "ab"+"c" and "a"+"bc" render differently.
const FIELD = '\u0000'
const MESSAGE = '\u0001'

/**
 * Two 32-bit multiply-xor lanes (FNV-1a's step with two different primes and offsets), combined
 * into one 53-bit integer: a Map key without allocation, and collisions about 2^-53 per pair.
 * Pure JavaScript: node:crypto per block cost ~1 µs a call, most of the 50 µs decision budget.
 * With `every` > 0 the hash is also taken at every block's end, into `blocks`. A class, not
 * closures: nothing is allocated per character or per piece fed, only the blocks array.
 */
class RunningHash {
  private a = 0x811c9dc5
  private b = 0x9747b28c
  count = 0
  readonly blocks: number[] = []

  /** `seed` is hashed in but not counted: the model name, which is not part of the prompt. */
  constructor (seed = '', private readonly every = 0) {
    for (let i = 0; i < seed.length; i++) this.step(seed.charCodeAt(i))
  }

  private step (c: number): void {
    this.a = Math.imul(this.a ^ c, 0x01000193)
    this.b = Math.imul(this.b ^ c, 0x5bd1e995)
  }

  add (text: string): void {
    let a = this.a
    let b = this.b
    let count = this.count
    const every = this.every
    let i = 0
    const n = text.length
    while (i < n) {
      // A tight loop up to the next block's end, then the boundary: no test per character.
      const end = every > 0 ? Math.min(n, i + every - (count % every)) : n
      count += end - i
      for (; i < end; i++) {
        const c = text.charCodeAt(i)
        a = Math.imul(a ^ c, 0x01000193)
        b = Math.imul(b ^ c, 0x5bd1e995)
      }
      if (every > 0 && count % every === 0) this.blocks.push(combine(a, b))
    }
    this.a = a
    this.b = b
    this.count = count
  }

  value (): number {
    return combine(this.a, this.b)
  }
}

/** Murmur3's finaliser: every input bit moves every output bit, so nearby states hash far apart. */
export function mix32 (h: number): number {
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}

function combine (a: number, b: number): number {
  return mix32(a) * 0x200000 + (mix32(b) >>> 11)
}

/** A string's 53-bit hash (the same on every peer: rendezvous depends on it). */
export function hashText (text: string): number {
  const h = new RunningHash()
  h.add(text)
  return h.value()
}

/**
 * Renders and hashes `request` for the prefix index. `model` seeds the hash, so each model has its
 * own index in one shared memory bound. Only whole blocks are kept: the last partial block differs
 * from the same position in the next turn, which has more text after it.
 */
export function promptPrint (request: PrintableRequest, blockChars: number): PromptPrint {
  const model = request.model == null || request.model === 'auto' ? '' : request.model
  const seed = model + FIELD
  // One pass: the anchor (system prompt + tools, else the first message) is a prefix of the
  // rendered prompt, so its hash is the running hash's value where that prefix ends; hashing it a
  // second time cost a sixth of the decision (bench route-decision). Fed piece by piece:
  // concatenating a message would copy its content (kilobytes) per request.
  const running = new RunningHash(seed, blockChars)
  let anchor = running.value()

  const messages = request.messages
  let first = 0
  while (first < messages.length && messages[first]?.role === 'system') {
    message(messages[first] as CompletionRequest['messages'][number], running)
    first++
  }
  if (request.tools != null && request.tools.length > 0) {
    running.add('tools' + FIELD)
    running.add(JSON.stringify(request.tools))
    running.add(MESSAGE)
  }
  const anchorKind: AnchorKind = first > 0 || (request.tools?.length ?? 0) > 0 ? 'system prompt' : 'first message'
  if (anchorKind === 'system prompt') anchor = running.value()
  for (let i = first; i < messages.length; i++) {
    message(messages[i] as CompletionRequest['messages'][number], running)
    // Without a system prompt or tools, the first message names the conversation.
    if (i === first && anchorKind === 'first message') anchor = running.value()
  }
  const print: PromptPrint = { blocks: running.blocks, chars: running.count, anchor, anchorKind }
  const key = request.affinity_key
  if (key != null && key !== '') {
    print.key = hashText(seed + 'key' + FIELD + key)
    print.anchor = print.key
    print.anchorKind = 'session key'
  }
  return print
}

function message (m: CompletionRequest['messages'][number], into: RunningHash): void {
  into.add(m.role)
  into.add(FIELD)
  into.add(m.content ?? '')
  if (m.tool_calls != null && m.tool_calls.length > 0) {
    into.add(FIELD)
    into.add(JSON.stringify(m.tool_calls))
  }
  if (m.tool_call_id != null) {
    into.add(FIELD)
    into.add(m.tool_call_id)
  }
  into.add(MESSAGE)
}
