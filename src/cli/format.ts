/** `12D3…x8ket`: enough of a peer id to tell peers apart in a table. */
export function shortId (peerId: string): string {
  return peerId.length > 12 ? `${peerId.slice(0, 4)}…${peerId.slice(-6)}` : peerId
}
