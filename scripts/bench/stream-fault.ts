// Whether one benchmark stream carried the whole answer over its path: the stream part's rule,
// pure and table-tested (test/unit/bench-stream-fault.test.ts).
import type { ChatOutcome } from './client.js'
import { SYNTHETIC_TOKEN_CHARS } from '../../src/backends/synthetic.js'

/** Why one stream does not count as a whole answer over its path; undefined when it does. */
export function streamFault (o: Pick<ChatOutcome, 'ok' | 'error' | 'tokens' | 'chars' | 'node'>, expectedTokens: number, servedBy: string | undefined): string | undefined {
  if (!o.ok) return o.error ?? 'failed'
  // Every synthetic token has the same length: a mismatch means text was lost, cut or duplicated.
  if (o.tokens !== expectedTokens) return `${o.tokens} tokens instead of ${expectedTokens}`
  if (o.chars !== expectedTokens * SYNTHETIC_TOKEN_CHARS) return `${o.chars} characters instead of ${expectedTokens * SYNTHETIC_TOKEN_CHARS}`
  if (servedBy != null && o.node !== servedBy) return `served by ${o.node ?? 'an unnamed node'} instead of ${servedBy}`
  return undefined
}
