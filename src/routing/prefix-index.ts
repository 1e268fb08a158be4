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

/**
 * Peers that were sent one block, with when. Almost always one: that case is one small object
 * (~70 bytes with its Map entry; bench/results/route-decision.json), more holders go in `more`.
 */
class Holders {
  more?: Array<{ peer: string, at: number }>
  constructor (public peer: string, public at: number) {}
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
      // `warm` doubles as the set of peers still matching: a peer matched block i only if its
      // entry says (i + 1) × blockChars after this block.
      for (let i = 0; i < print.blocks.length; i++) {
        const holders = blocks.get(print.blocks[i] as number)
        if (holders == null) break
        const before = i * blockChars
        let any = matches(warm, holders.peer, holders.at, oldest, i, before, blockChars)
        if (holders.more != null) for (const h of holders.more) any = matches(warm, h.peer, h.at, oldest, i, before, blockChars) || any
        if (!any) break
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
          blocks.set(hash, new Holders(peer, now))
          continue
        }
        blocks.delete(hash)
        blocks.set(hash, holders)
        hold(holders, peer, now, now - ttlMs)
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

/** Block i held by `peer` extends its match if it matched every block before (chained hashes). */
function matches (warm: Map<string, number>, peer: string, at: number, oldest: number, i: number, before: number, blockChars: number): boolean {
  if (at < oldest || (i > 0 && warm.get(peer) !== before)) return false
  warm.set(peer, before + blockChars)
  return true
}

/** `peer` holds the block as of `now`; holders past the expiry are dropped, so a hot block (a shared system prompt) does not collect every peer ever seen. */
function hold (holders: Holders, peer: string, now: number, oldest: number): void {
  if (holders.more == null && (holders.peer === peer || holders.at < oldest)) {
    // The common cases without allocating: the same peer again, or a lone holder that expired.
    holders.peer = peer
    holders.at = now
    return
  }
  const all = [{ peer: holders.peer, at: holders.at }, ...(holders.more ?? [])].filter(h => h.at >= oldest && h.peer !== peer)
  all.unshift({ peer, at: now })
  const [first, ...rest] = all as [{ peer: string, at: number }, ...Array<{ peer: string, at: number }>]
  holders.peer = first.peer
  holders.at = first.at
  if (rest.length > 0) holders.more = rest
  else delete holders.more
}

function latest (holders: Holders): number {
  let max = holders.at
  if (holders.more != null) for (const h of holders.more) if (h.at > max) max = h.at
  return max
}
