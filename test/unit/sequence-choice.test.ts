import assert from 'node:assert/strict'
import { chooseSequence, commonPrefixLength, MIN_SHARED_FRACTION, type SequenceCandidate } from '../../src/backends/sequence-choice.js'

// Issue 23: the embedded backend keeps each sequence's tokens; a request takes the free sequence
// sharing the longest token prefix with its prompt, as llama-server picks a slot.

/** Tokens 1..n: a prompt, or a cached conversation, that shares its first tokens with others. */
const run = (n: number, from = 1): number[] => Array.from({ length: n }, (_, i) => from + i)
const seq = (tokens: number[], lastUsed: number): SequenceCandidate => ({ tokens, lastUsed })

describe('commonPrefixLength', () => {
  const cases: Array<{ a: number[], b: number[], expected: number }> = [
    { a: [], b: [], expected: 0 },
    { a: [1, 2, 3], b: [], expected: 0 },
    { a: [1, 2, 3], b: [1, 2, 3], expected: 3 },
    { a: [1, 2, 3], b: [1, 2, 3, 4, 5], expected: 3 },
    { a: [1, 2, 9, 4], b: [1, 2, 3, 4], expected: 2 },
    { a: [9, 2, 3], b: [1, 2, 3], expected: 0 }
  ]
  for (const c of cases) {
    it(`should find ${c.expected} shared tokens in [${c.a.join(',')}] and [${c.b.join(',')}]`, () => {
      assert.equal(commonPrefixLength(c.a, c.b), c.expected)
      assert.equal(commonPrefixLength(c.b, c.a), c.expected)
    })
  }
})

describe('chooseSequence', () => {
  const prompt = run(100)
  const cases: Array<{ what: string, free: SequenceCandidate[], prompt?: number[], expected: { index: number, reused: number } | undefined }> = [
    { what: 'no free sequence: nothing to choose', free: [], expected: undefined },
    { what: 'one empty sequence: it, nothing reused', free: [seq([], 0)], expected: { index: 0, reused: 0 } },
    {
      what: 'the longest common prefix wins over a more recent shorter one',
      free: [seq(run(40), 5), seq(run(80), 1), seq(run(60), 9)],
      expected: { index: 1, reused: 80 }
    },
    {
      what: 'a cached conversation longer than the prompt (the prompt is its prefix): all but the last prompt token',
      free: [seq([], 0), seq(run(150), 3)],
      expected: { index: 1, reused: 99 }
    },
    {
      what: 'the same prompt again: all but the last token, which is evaluated again for its logits',
      free: [seq(run(100), 3)],
      expected: { index: 0, reused: 99 }
    },
    {
      what: 'a tie on the prefix: the least recently used keeps the more recent cache alive',
      free: [seq([...run(50), 900], 7), seq([...run(50), 901], 2)],
      expected: { index: 1, reused: 50 }
    },
    {
      what: 'nothing shared: the least recently used, an empty one first',
      free: [seq(run(30, 500), 4), seq([], 0), seq(run(30, 700), 2)],
      expected: { index: 1, reused: 0 }
    },
    {
      what: 'nothing shared, none empty: the least recently used',
      free: [seq(run(30, 500), 4), seq(run(30, 700), 2)],
      expected: { index: 1, reused: 0 }
    },
    {
      what: `a match under ${MIN_SHARED_FRACTION * 100} % of the prompt (the template's first tokens) does not evict a recent cache: LRU instead`,
      free: [seq([...run(5), 999], 1), seq(run(3), 8)],
      expected: { index: 0, reused: 5 }
    },
    {
      what: 'a short match on the LRU sequence is still reported as reused',
      free: [seq(run(40, 300), 9), seq([...run(4), 999], 1)],
      expected: { index: 1, reused: 4 }
    },
    {
      what: 'exactly the threshold counts as a match',
      free: [seq([], 0), seq([...run(10), 999], 5)],
      expected: { index: 1, reused: 10 }
    },
    {
      what: 'a one-token prompt reuses nothing: its only token is evaluated for the logits',
      free: [seq([1, 2, 3], 1)],
      prompt: [1],
      expected: { index: 0, reused: 0 }
    }
  ]
  for (const c of cases) {
    it(`should choose ${c.expected == null ? 'nothing' : `sequence ${c.expected.index} reusing ${c.expected.reused}`}: ${c.what}`, () => {
      assert.deepEqual(chooseSequence(c.free, c.prompt ?? prompt), c.expected)
    })
  }
})
