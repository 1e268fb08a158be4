// What `start` prints once the peer is up: the ready line (text or JSON) and the notices a user
// should see where they start a peer. Pure, so both are table-tested.

export interface ReadyInfo {
  name: string
  peerId: string
  apiUrl: string
  meshAddrs: string[]
  /** What backend detection found at start, when it ran (`found="ollama at …"`). */
  found?: string
}

export interface ExposureInput {
  /** A private network key was given (--mesh-key). */
  meshKey: boolean
  mdns: boolean
  /** The mesh listen multiaddrs as configured (not the resolved ones). */
  listen: readonly string[]
}

const LOOPBACK = /^\/(ip4\/127\.|ip6\/::1\/|dns4?\/localhost\/)/

/**
 * Said at start when strangers could join: no mesh key, and a LAN (mDNS) or a non-loopback listen
 * address. `start` with no options is exactly that (0.0.0.0:4700, mDNS on), which a user trying the
 * quick start would not guess. undefined when a key is set or the mesh only listens on loopback.
 */
export function openMeshNotice ({ meshKey, mdns, listen }: ExposureInput): string | undefined {
  if (meshKey) return undefined
  const exposed = listen.filter(a => !LOOPBACK.test(a))
  if (exposed.length === 0) return undefined
  const fix = 'harombe-peer init writes a key (then start every peer with --mesh-key mesh.key)'
  return mdns
    ? `open mesh on the LAN: anyone on it can join — ${fix}`
    : `open mesh: anyone who can reach ${exposed.join(', ')} can join — ${fix}`
}

/** `harombe-peer ready name=… peer=… api=… mesh=…`: one line scripts can parse. */
export function readyText (info: ReadyInfo): string {
  return `harombe-peer ready name=${info.name} peer=${info.peerId} api=${info.apiUrl} mesh=${info.meshAddrs.join(',')}${info.found != null ? ` found=${JSON.stringify(info.found)}` : ''}`
}

/** `start --json`: the same facts as one JSON object, plus the open-mesh notice when there is one. */
export function readyJson (info: ReadyInfo, notice: string | undefined): string {
  return JSON.stringify({
    event: 'ready',
    name: info.name,
    peer_id: info.peerId,
    api: info.apiUrl,
    mesh: info.meshAddrs,
    ...(info.found != null ? { found: info.found } : {}),
    open_mesh: notice != null,
    ...(notice != null ? { notice } : {})
  })
}
