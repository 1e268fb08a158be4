import type { MeshNode } from '../mesh/node.js'

/**
 * Which peers are part-way through answering us: completions that have delivered their first delta
 * and not yet their trailer. The failure detector asks before it hangs up on a peer declared dead,
 * because a peer that was only frozen for a few seconds (SIGSTOP, a VM pause) resumes such a stream
 * intact, while hanging up turns it into an error nobody can fail over from (chaos test, issue 7).
 * Per node, not global: several peers may share a process.
 */
const answeringByNode = new WeakMap<MeshNode, Map<string, number>>()

/** Marks one completion from `peerId` as streaming; call the returned function when it ends. */
export function markAnswering (node: MeshNode, peerId: string): () => void {
  let counts = answeringByNode.get(node)
  if (counts == null) {
    counts = new Map()
    answeringByNode.set(node, counts)
  }
  const map = counts
  map.set(peerId, (map.get(peerId) ?? 0) + 1)
  let done = false
  return () => {
    if (done) return
    done = true
    const left = (map.get(peerId) ?? 1) - 1
    if (left <= 0) map.delete(peerId)
    else map.set(peerId, left)
  }
}

/** True while at least one completion from `peerId` has started streaming to us and not ended. */
export function isAnswering (node: MeshNode, peerId: string): boolean {
  return (answeringByNode.get(node)?.get(peerId) ?? 0) > 0
}
