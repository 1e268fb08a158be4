import assert from 'node:assert/strict'
import { createPrefixIndex } from '../../src/routing/prefix-index.js'
import { promptPrint } from '../../src/routing/prompt-print.js'
import type { ChatMessage, CompletionRequest } from '../../src/completion/types.js'

const BLOCK = 16
const SYSTEM = 'You are a careful agent. '.repeat(8) // 200 chars: 12 whole blocks and more
const MINUTE = 60_000

function chat (messages: ChatMessage[], fields: Partial<CompletionRequest> = {}): CompletionRequest {
  return { model: 'm', messages, ...fields }
}
const sys = (content = SYSTEM): ChatMessage => ({ role: 'system', content })
const user = (content: string): ChatMessage => ({ role: 'user', content })
const assistant = (content: string): ChatMessage => ({ role: 'assistant', content })

describe('prompt print', () => {
  it('should make a later turn start with every block of the earlier one', () => {
    const turn1 = promptPrint(chat([sys(), user('first question, long enough to fill a block')]), BLOCK)
    const turn2 = promptPrint(chat([sys(), user('first question, long enough to fill a block'), assistant('an answer'), user('second')]), BLOCK)
    assert.ok(turn1.blocks.length >= 12, `blocks: ${turn1.blocks.length}`)
    assert.deepEqual(turn2.blocks.slice(0, turn1.blocks.length), turn1.blocks)
    assert.ok(turn2.chars > turn1.chars)
    assert.equal(turn1.blocks.length, Math.floor(turn1.chars / BLOCK), 'only whole blocks')
  })

  it('should part ways at the first differing character, and per model', () => {
    const a = promptPrint(chat([sys(), user('x'.repeat(64))]), BLOCK)
    const b = promptPrint(chat([sys(SYSTEM.replace('careful', 'carefree')), user('x'.repeat(64))]), BLOCK)
    // "system\0" + "You are a careful…": "careful" starts at character 17, in the second block.
    assert.equal(a.blocks[0], b.blocks[0], 'the first block is the same')
    assert.notEqual(a.blocks[1], b.blocks[1], 'the second differs')
    const other = promptPrint(chat([sys(), user('x'.repeat(64))], { model: 'n' }), BLOCK)
    assert.notEqual(a.blocks[0], other.blocks[0], 'another model hashes apart')
  })

  it('should anchor on the system prompt and tools, else the first message, else the session key', () => {
    const tools: CompletionRequest['tools'] = [{ type: 'function', function: { name: 'search' } }]
    const one = promptPrint(chat([sys(), user('a')]), BLOCK)
    const two = promptPrint(chat([sys(), user('something else entirely')]), BLOCK)
    assert.equal(one.anchorKind, 'system prompt')
    assert.equal(one.anchor, two.anchor, 'same system prompt, same anchor')
    assert.notEqual(promptPrint(chat([sys(), user('a')], { tools }), BLOCK).anchor, one.anchor, 'tools are part of it')
    const bare = promptPrint(chat([user('hello'), assistant('hi'), user('more')]), BLOCK)
    assert.equal(bare.anchorKind, 'first message')
    assert.equal(bare.anchor, promptPrint(chat([user('hello')]), BLOCK).anchor, 'the first message names the conversation')
    const keyed = promptPrint(chat([sys(), user('a')], { affinity_key: 'conv-7' }), BLOCK)
    assert.equal(keyed.anchorKind, 'session key')
    assert.equal(keyed.anchor, keyed.key)
    assert.equal(keyed.key, promptPrint(chat([user('other')], { affinity_key: 'conv-7' }), BLOCK).key, 'the key alone decides')
  })
})

describe('prefix index', () => {
  const T0 = 10 * MINUTE
  const turn1 = chat([sys(), user('question one')])
  const turn2 = chat([sys(), user('question one'), assistant('answer one'), user('question two')])
  const print = (r: CompletionRequest) => promptPrint(r, BLOCK)

  interface Row {
    name: string
    sent: Array<{ request: CompletionRequest, peer: string, at: number }>
    ask: CompletionRequest
    at: number
    warm: Record<string, number>
    pinned?: string
    config?: Parameters<typeof createPrefixIndex>[0]
  }
  const rows: Row[] = [
    {
      name: 'know nothing at first',
      sent: [],
      ask: turn1,
      at: T0,
      warm: {}
    },
    {
      name: 'find the whole earlier turn warm on the peer it went to',
      sent: [{ request: turn1, peer: 'b', at: T0 }],
      ask: turn2,
      at: T0 + 1_000,
      warm: { b: Math.floor(print(turn1).chars / BLOCK) * BLOCK }
    },
    {
      name: 'give each peer its own longest prefix (the system prompt on c, the turn on b)',
      sent: [{ request: chat([sys(), user('unrelated')]), peer: 'c', at: T0 }, { request: turn1, peer: 'b', at: T0 }],
      ask: turn2,
      at: T0 + 1_000,
      warm: { b: Math.floor(print(turn1).chars / BLOCK) * BLOCK, c: Math.floor((print(chat([sys()])).chars) / BLOCK) * BLOCK }
    },
    {
      name: 'forget a prefix sent longer ago than the expiry',
      sent: [{ request: turn1, peer: 'b', at: T0 }],
      ask: turn2,
      at: T0 + 5 * MINUTE + 1,
      warm: {},
      config: { ttlMs: 5 * MINUTE, blockChars: BLOCK }
    },
    {
      name: 'keep a prefix sent again within the expiry',
      sent: [{ request: turn1, peer: 'b', at: T0 }, { request: turn1, peer: 'b', at: T0 + 4 * MINUTE }],
      ask: turn1,
      at: T0 + 6 * MINUTE,
      warm: { b: Math.floor(print(turn1).chars / BLOCK) * BLOCK },
      config: { ttlMs: 5 * MINUTE, blockChars: BLOCK }
    },
    {
      name: 'pin a session key to the peer it was last sent to',
      sent: [{ request: { ...turn1, affinity_key: 'k' }, peer: 'b', at: T0 }, { request: { ...turn1, affinity_key: 'k' }, peer: 'c', at: T0 + 1 }],
      ask: { ...turn2, affinity_key: 'k' },
      at: T0 + 2,
      warm: { b: Math.floor(print(turn1).chars / BLOCK) * BLOCK, c: Math.floor(print(turn1).chars / BLOCK) * BLOCK },
      pinned: 'c'
    },
    {
      name: 'not pin a key whose last use expired',
      sent: [{ request: { ...turn1, affinity_key: 'k' }, peer: 'b', at: T0 }],
      ask: { ...turn1, affinity_key: 'k' },
      at: T0 + 2 * MINUTE,
      warm: {},
      config: { ttlMs: MINUTE, blockChars: BLOCK }
    }
  ]
  for (const row of rows) {
    it(`should ${row.name}`, () => {
      const index = createPrefixIndex(row.config ?? { blockChars: BLOCK })
      for (const s of row.sent) index.record(print(s.request), s.peer, s.at)
      const found = index.lookup(print(row.ask), row.at)
      assert.deepEqual(Object.fromEntries(found.warm), row.warm)
      assert.equal(found.pinned, row.pinned)
    })
  }

  it('should hold at most maxBlocks blocks and maxKeys keys, dropping the least recently sent', () => {
    const index = createPrefixIndex({ blockChars: BLOCK, maxBlocks: 50, maxKeys: 3 })
    const conversation = (i: number): CompletionRequest => chat([user(`${i} conversation `.repeat(10))], { affinity_key: `k${i}` })
    for (let i = 0; i < 20; i++) index.record(print(conversation(i)), 'b', T0 + i)
    assert.deepEqual(index.size(), { blocks: 50, keys: 3 })
    // The newest conversation is whole; the oldest is gone, block and key.
    const newest = index.lookup(print(conversation(19)), T0 + 20)
    assert.equal(newest.warm.get('b'), print(conversation(19)).blocks.length * BLOCK)
    assert.equal(newest.pinned, 'b')
    const oldest = index.lookup(print(conversation(0)), T0 + 20)
    assert.equal(oldest.warm.size, 0)
    assert.equal(oldest.pinned, undefined)
  })

  it('should refresh a block when it is sent again, so a hot system prompt outlives colder ones', () => {
    const index = createPrefixIndex({ blockChars: BLOCK, maxBlocks: 30 })
    const hot = chat([sys(), user('q')])
    index.record(print(hot), 'b', T0)
    for (let i = 0; i < 10; i++) {
      index.record(print(chat([user(`cold ${i} `.repeat(6))])), 'c', T0 + i)
      index.record(print(hot), 'b', T0 + i)
    }
    assert.ok(index.size().blocks <= 30)
    assert.ok((index.lookup(print(hot), T0 + 10).warm.get('b') ?? 0) > 0, 'the hot prompt is still known')
  })

  it('should drop an expired holder of a shared block when the block is sent again', () => {
    const index = createPrefixIndex({ blockChars: BLOCK, ttlMs: MINUTE })
    const shared = print(chat([sys(), user('q')]))
    index.record(shared, 'old', T0)
    index.record(shared, 'new', T0 + 2 * MINUTE)
    assert.deepEqual([...index.lookup(shared, T0 + 2 * MINUTE).warm.keys()], ['new'])
  })

  it('should reject a bound that holds nothing', () => {
    assert.throws(() => createPrefixIndex({ maxBlocks: 0 }), RangeError)
    assert.throws(() => createPrefixIndex({ ttlMs: 0 }), RangeError)
  })
})
