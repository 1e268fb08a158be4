import type { MeshNode } from './node.js'

/**
 * Which peers' connections carry real work, per node: when each was last used and how many
 * exchanges (completions, either direction) are running on it right now. The connection trimmer
 * reads it; whoever runs the work writes it. libp2p 2.x emits no event per stream, and a pooled
 * completion stream carries many requests without a new stream, so "a stream opened" alone would
 * miss most use: the work itself says when it starts and ends. Per node, not global: several peers
 * may share a process (tests).
 */
export interface ConnectionUse {
  /** When work on this peer's connection last started or ended (ms). */
  lastUsedAt: number
  /** Exchanges running now; > 0 means the connection must not be closed. */
  active: number
}

const useByNode = new WeakMap<MeshNode, Map<string, ConnectionUse>>()

/**
 * Peers whose connection use is remembered at most. The trimmer forgets idle peers without a
 * connection every round; between rounds, each new peer worked with adds one. Past this, the
 * oldest records with nothing running go first (a record with work running is never dropped:
 * it keeps the connection from being trimmed, and there are no more of those than requests).
 */
export const MAX_CONNECTION_USES = 1_024

function usesOf (node: MeshNode): Map<string, ConnectionUse> {
  let uses = useByNode.get(node)
  if (uses == null) {
    uses = new Map()
    useByNode.set(node, uses)
  }
  return uses
}

/** Records use of the connection to `peerId` now (it is not idle). */
function touchConnection (node: MeshNode, peerId: string, now: number = Date.now()): void {
  const uses = usesOf(node)
  const use = uses.get(peerId)
  if (use != null) {
    use.lastUsedAt = Math.max(use.lastUsedAt, now)
    return
  }
  uses.set(peerId, { lastUsedAt: now, active: 0 })
  if (uses.size <= MAX_CONNECTION_USES) return
  for (const [peer, old] of uses) {
    if (uses.size <= MAX_CONNECTION_USES) break
    if (old.active === 0 && peer !== peerId) uses.delete(peer)
  }
}

/** Peers whose connection use `node` remembers. */
export function connectionUses (node: MeshNode): number {
  return useByNode.get(node)?.size ?? 0
}

/**
 * Marks an exchange with `peerId` as running (its connection is busy) until the returned function
 * is called; both ends count as use. The returned function is idempotent.
 */
function beginConnectionUse (node: MeshNode, peerId: string): () => void {
  touchConnection(node, peerId)
  const use = usesOf(node).get(peerId) as ConnectionUse
  use.active++
  let ended = false
  return () => {
    if (ended) return
    ended = true
    use.active = Math.max(0, use.active - 1)
    // The entry may have been forgotten meanwhile (never while active, but be safe): put it back.
    usesOf(node).set(peerId, use)
    touchConnection(node, peerId)
  }
}

/** Runs `work` with the connection to `peerId` marked busy (see beginConnectionUse). */
export async function whileUsingConnection<T> (node: MeshNode, peerId: string, work: () => Promise<T>): Promise<T> {
  const used = beginConnectionUse(node, peerId)
  try {
    return await work()
  } finally {
    used()
  }
}

/** What is known about the connection to `peerId`; undefined when it was never used. */
export function connectionUse (node: MeshNode, peerId: string): Readonly<ConnectionUse> | undefined {
  return useByNode.get(node)?.get(peerId)
}

/** Drops records of peers that `keep` rejects and that have nothing running, so the map does not grow with churn. */
export function forgetConnectionUse (node: MeshNode, keep: (peerId: string) => boolean): void {
  const uses = useByNode.get(node)
  if (uses == null) return
  for (const [peerId, use] of uses) {
    if (use.active === 0 && !keep(peerId)) uses.delete(peerId)
  }
}
