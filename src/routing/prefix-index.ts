// Which prompt prefixes this peer sent where (issue 23): the approximate, per-model index that
// SGLang's router keeps as a radix tree and llm-d as block hashes, here block hashes. It learns
// only from this peer's own routing (no peer tells another what it has cached), forgets what is
// older than a backend's usual cache lifetime, and holds a bounded number of entries, least
// recently sent dropped first. The clock is the caller's: no timers, tests pass `now`.
import { DEFAULT_AFFINITY_CONFIG, type AffinityConfig } from './affinity-config.js'
import type { PromptPrint } from './prompt-print.js'

export type PrefixIndexConfig = Pick<AffinityConfig, 'maxBlocks' | 'maxKeys' | 'ttlMs' | 'blockChars'>

/** What the index knows about one prompt, handed to the pure router as data. */
export interface PrefixLookup {
  /** Per peer id: how many characters of the prompt's start that peer was last sent (whole blocks). */
  warm: Map<string, number>
  /** The peer the request's explicit key was last sent to, within the expiry. */
  pinned?: string
}

export interface PrefixIndex {
  lookup: (print: PromptPrint, now: number) => PrefixLookup
  /** `peer` was just sent `print`: its blocks (and key) now point there too. */
  record: (print: PromptPrint, peer: string, now: number) => void
  /** Entries held (blocks, keys): the memory bound is on these. */
  size: () => { blocks: number, keys: number }
  clear: () => void
}

/** Peers that were sent one block, with when; almost always one or two. */
interface Holders {
  peers: string[]
  at: number[]
}

export function createPrefixIndex (config: Partial<PrefixIndexConfig> = {}): PrefixIndex {
  const { maxBlocks, maxKeys, ttlMs, blockChars } = { ...DEFAULT_AFFINITY_CONFIG, ...config }
  if (!(maxBlocks >= 1) || !(maxKeys >= 1) || !(ttlMs > 0) || !(blockChars >= 1)) throw new RangeError('prefix index: maxBlocks, maxKeys, blockChars must be ≥ 1 and ttlMs > 0')
  // A Map iterates in insertion order; re-inserting on every use keeps it in least-recent-first
  // order, so eviction and expiry both take from the front: O(1) each, no timer.
  const blocks = new Map<number, Holders>()
  const keys = new Map<number, { peer: string, at: number }>()

  const expire = (now: number): void => {
    const oldest = now - ttlMs
    for (const [hash, holders] of blocks) {
      if (blocks.size <= maxBlocks && latest(holders) >= oldest) break
      blocks.delete(hash)
    }
    for (const [hash, pin] of keys) {
      if (keys.size <= maxKeys && pin.at >= oldest) break
      keys.delete(hash)
    }
  }

  return {
    lookup (print, now) {
      const oldest = now - ttlMs
      const warm = new Map<string, number>()
      // Chained hashes: a peer holds block i only if it held every block before it, so the walk
      // follows the peers still matching and stops when none is.
      let matching: Set<string> | undefined
      for (let i = 0; i < print.blocks.length; i++) {
        const holders = blocks.get(print.blocks[i] as number)
        if (holders == null) break
        const next = new Set<string>()
        for (let j = 0; j < holders.peers.length; j++) {
          const peer = holders.peers[j] as string
          if ((holders.at[j] as number) < oldest) continue
          if (matching != null && !matching.has(peer)) continue
          next.add(peer)
          warm.set(peer, (i + 1) * blockChars)
        }
        if (next.size === 0) break
        matching = next
      }
      const out: PrefixLookup = { warm }
      if (print.key != null) {
        const pin = keys.get(print.key)
        if (pin != null && pin.at >= oldest) out.pinned = pin.peer
      }
      return out
    },

    record (print, peer, now) {
      for (const hash of print.blocks) {
        const holders = blocks.get(hash)
        if (holders == null) {
          blocks.set(hash, { peers: [peer], at: [now] })
          continue
        }
        blocks.delete(hash)
        blocks.set(hash, holders)
        prune(holders, now - ttlMs)
        const j = holders.peers.indexOf(peer)
        if (j >= 0) holders.at[j] = now
        else {
          holders.peers.push(peer)
          holders.at.push(now)
        }
      }
      if (print.key != null) {
        keys.delete(print.key)
        keys.set(print.key, { peer, at: now })
      }
      expire(now)
    },

    size: () => ({ blocks: blocks.size, keys: keys.size }),
    clear () {
      blocks.clear()
      keys.clear()
    }
  }
}

/** Drops holders past the expiry: a hot block (a shared system prompt) must not collect every peer ever seen. */
function prune (holders: Holders, oldest: number): void {
  for (let j = holders.peers.length - 1; j >= 0; j--) {
    if ((holders.at[j] as number) >= oldest) continue
    holders.peers.splice(j, 1)
    holders.at.splice(j, 1)
  }
}

function latest (holders: Holders): number {
  let max = -Infinity
  for (const at of holders.at) if (at > max) max = at
  return max
}
