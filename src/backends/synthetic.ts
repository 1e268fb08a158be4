// A synthetic streaming backend for benchmarks: fixed-size tokens at a configurable rate after a
// configurable time to first token. At rate 0 and delay 0 it costs next to nothing, so a
// benchmark measures the mesh and the HTTP edges, not a model.
import { setImmediate as yieldToLoop } from 'node:timers/promises'
import { AbortedError, UnavailableError } from '../completion/errors.js'
import type { Backend, BackendRequest, CompleteOptions, CompletionResult, Health } from '../completion/types.js'
import { linkSignals } from '../util/linked-abort.js'

export const SYNTHETIC_MODEL = 'synthetic'

/** Every token is exactly this many characters, so a client can check nothing was lost or duplicated. */
export const SYNTHETIC_TOKEN_CHARS = 4

/** Tokens cycle through these; four characters each, like an average English BPE token. */
const TOKENS = [' foo', ' bar', ' baz', ' qux', ' one', ' two', ' six', ' ten']

/**
 * At zero cost, tokens are emitted in bursts of this many before yielding to the event loop:
 * small enough that I/O (the stream being written, other requests) keeps flowing, large enough
 * that yielding does not dominate. A real model also emits while the network drains.
 */
const ZERO_COST_BURST = 64

/** Answers without max_tokens are short: most benchmark requests stand in for "a short completion". */
const DEFAULT_MAX_TOKENS = 16

/** Zero cost means any number at once; 256 is above any concurrency the benchmarks drive. */
const DEFAULT_CAPACITY = 256

export interface SyntheticBackendInit {
  /** Tokens per second once the first token is out; 0 = as fast as the process can emit (zero cost). */
  tokensPerSecond?: number
  /** Delay before the first token (prompt processing); 0 = none. */
  firstTokenMs?: number
  /** Tokens when the request sets no max_tokens (default 16). */
  defaultMaxTokens?: number
  /** Completions at once before the peer queues (default 256). */
  capacity?: number
  /** Model names served (default `synthetic`). */
  models?: string[]
}

export function createSyntheticBackend (init: SyntheticBackendInit = {}): Backend {
  const tokensPerSecond = nonNegative(init.tokensPerSecond ?? 0, 'tokensPerSecond')
  const firstTokenMs = nonNegative(init.firstTokenMs ?? 0, 'firstTokenMs')
  const defaultMaxTokens = init.defaultMaxTokens ?? DEFAULT_MAX_TOKENS
  const capacity = init.capacity ?? DEFAULT_CAPACITY
  const models = init.models ?? [SYNTHETIC_MODEL]
  const lifetime = new AbortController()

  return {
    kind: 'test',
    capacity,
    async models () { return [...models] },
    async health (): Promise<Health> {
      return lifetime.signal.aborted ? { ok: false, reason: 'synthetic backend is closed' } : { ok: true, latencyMs: 0 }
    },
    async close () { lifetime.abort() },

    async complete (request: BackendRequest, options: CompleteOptions): Promise<CompletionResult> {
      if (lifetime.signal.aborted) throw new UnavailableError('synthetic backend is closed')
      // Not AbortSignal.any(): on Node 20 it leaks on the long-lived lifetime signal (issue 25).
      const linked = linkSignals([options.signal, lifetime.signal])
      const signal = linked.signal
      try {
        const count = Math.max(0, Math.floor(request.max_tokens ?? defaultMaxTokens))
        // A continued answer goes on where the prefix ends, so prefix + continuation is the same text
        // an unbroken run gives (the chaos run checks every answer against it).
        const first = Math.floor((request.continuation?.prefix.length ?? 0) / SYNTHETIC_TOKEN_CHARS)
        const pieces: string[] = []
        const emit = (i: number): void => {
          const token = TOKENS[(first + i) % TOKENS.length] as string
          pieces.push(token)
          options.onDelta?.({ content: token })
        }
        const check = (): void => {
          if (!signal.aborted) return
          throw lifetime.signal.aborted ? new UnavailableError('synthetic backend closed during the completion') : new AbortedError('completion aborted by the caller')
        }

        check()
        if (firstTokenMs > 0) await sleep(firstTokenMs, signal).catch(check)
        const started = performance.now()
        let sent = 0
        while (sent < count) {
          check()
          if (tokensPerSecond === 0) {
            const end = Math.min(count, sent + ZERO_COST_BURST)
            while (sent < end) emit(sent++)
            if (sent < count) await yieldToLoop()
            continue
          }
          // Catch up with the schedule (timers fire late under load), then sleep until the next token is due.
          const due = Math.min(count, 1 + Math.floor((performance.now() - started) * tokensPerSecond / 1000))
          while (sent < due) emit(sent++)
          if (sent < count) await sleep(Math.max(1, (sent * 1000 / tokensPerSecond) - (performance.now() - started)), signal).catch(check)
        }
        check()
        return {
          message: { role: 'assistant', content: pieces.join('') },
          finish_reason: request.max_tokens != null ? 'length' : 'stop',
          model: request.model,
          usage: { prompt_tokens: promptTokens(request), completion_tokens: count }
        }
      } finally {
        linked.release()
      }
    }
  }
}

/** About four characters per token, as OpenAI's rule of thumb: good enough for a usage field. */
function promptTokens (request: BackendRequest): number {
  let chars = 0
  for (const m of request.messages) chars += m.content?.length ?? 0
  return Math.ceil(chars / 4)
}

async function sleep (ms: number, signal: AbortSignal): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    const onAbort = (): void => {
      clearTimeout(timer)
      reject(signal.reason)
    }
    signal.addEventListener('abort', onAbort, { once: true })
  })
}

function nonNegative (value: number, name: string): number {
  if (!Number.isFinite(value) || value < 0) throw new RangeError(`${name} must be a finite number ≥ 0, got ${value}`)
  return value
}
