import '../polyfill.js'
import { createLibp2p, type Libp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { installHalfWindowUpdates } from './yamux-window-updates.js'
import { identify } from '@libp2p/identify'
import { ping, type PingService } from '@libp2p/ping'
import { mdns } from '@libp2p/mdns'
import { bootstrap } from '@libp2p/bootstrap'
import type { Identify } from '@libp2p/identify'
import type { PeerDiscovery, PrivateKey } from '@libp2p/interface'
import { privateNetwork } from './private-network.js'
import { silentLogger, type Logger } from '../log.js'
import {
  DIAL_TIMEOUT_MS,
  INBOUND_UPGRADE_TIMEOUT_MS,
  KEY_MISMATCH_LOG_INTERVAL_MS,
  PING_MAX_STREAMS,
  INBOUND_CONNECTION_THRESHOLD,
  MAX_CONNECTIONS,
  MAX_INCOMING_PENDING_CONNECTIONS
} from './constants.js'

export type MeshServices = {
  identify: Identify
  ping: PingService
}

export type MeshNode = Libp2p<MeshServices>

export interface MeshNodeInit {
  privateKey: PrivateKey
  /** Multiaddrs to listen on, e.g. `/ip4/127.0.0.1/tcp/0`. */
  listen: string[]
  /** Multiaddrs (with `/p2p/<id>`) dialed at start and re-dialed while disconnected. */
  bootstrap?: string[]
  mdns?: boolean
  /** How often mDNS queries the LAN; the library default (10 s) makes a new peer wait. */
  mdnsIntervalMs?: number
  /** Contents of a pnet v1 key file: peers without the same key cannot connect. */
  meshKey?: Uint8Array
  /** Addresses announced to others instead of the listen addresses (tests: loopback only). */
  announce?: string[]
  /** Warns about inbound connections with a wrong mesh key (outbound failures are the dialer's to log). */
  logger?: Logger
}

/**
 * Builds (but does not start) a libp2p 2.x node with the transports, limits and services
 * a harombe peer needs. Dial-on-discovery is wired by `attachAutoDial`, not here, so this
 * stays a plain factory.
 */
export async function createMeshNode (init: MeshNodeInit): Promise<MeshNode> {
  const peerDiscovery: Array<(components: any) => PeerDiscovery> = []
  if (init.bootstrap != null && init.bootstrap.length > 0) {
    // Bootstrap's own timeout fires the first discovery quickly; re-dials are ours (auto-dial).
    peerDiscovery.push(bootstrap({ list: init.bootstrap, timeout: 10 }))
  }
  if (init.mdns === true) {
    peerDiscovery.push(mdns({ interval: init.mdnsIntervalMs ?? 1_000 }))
  }

  installHalfWindowUpdates()
  return createLibp2p({
    // Started by the caller, so a listen error surfaces there (createLibp2p would throw it itself).
    start: false,
    privateKey: init.privateKey,
    addresses: {
      listen: init.listen,
      announce: init.announce ?? []
    },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionProtector: init.meshKey != null ? privateNetwork({ psk: init.meshKey, onInboundRejected: inboundRejectedLogger(init.logger ?? silentLogger()) }) : undefined,
    peerDiscovery,
    connectionManager: {
      dialTimeout: DIAL_TIMEOUT_MS,
      inboundUpgradeTimeout: INBOUND_UPGRADE_TIMEOUT_MS,
      inboundConnectionThreshold: INBOUND_CONNECTION_THRESHOLD,
      maxIncomingPendingConnections: MAX_INCOMING_PENDING_CONNECTIONS,
      maxConnections: MAX_CONNECTIONS
    },
    services: {
      identify: identify(),
      // The default of one outbound ping stream per connection collides with libp2p's connection
      // monitor: the failure detector's probe then fails locally and calls a live peer dead.
      ping: ping({ maxOutboundStreams: PING_MAX_STREAMS, maxInboundStreams: PING_MAX_STREAMS })
    },
    // Liveness is membership's SWIM prober (one probe per period, whatever N is); libp2p's monitor
    // would ping every connection every 10 s on top, a cost that grows with the connections.
    connectionMonitor: { enabled: false }
  }) as Promise<MeshNode>
}

/** Whether an open connection to `peerId` exists (by its string form: parsing a PeerId costs more than the scan). */
export function hasOpenConnection (node: MeshNode, peerId: string): boolean {
  return node.getConnections().some(c => c.status === 'open' && c.remotePeer.toString() === peerId)
}

/** One warning per remote host per interval: an outsider re-dialing every second must not flood the log. */
function inboundRejectedLogger (log: Logger): (remoteAddr: string, err: Error) => void {
  const lastWarned = new Map<string, number>()
  return (remoteAddr, err) => {
    const host = remoteAddr.split('/tcp/')[0] ?? remoteAddr
    const now = Date.now()
    if (now - (lastWarned.get(host) ?? -Infinity) < KEY_MISMATCH_LOG_INTERVAL_MS) return
    if (lastWarned.size > 1_000) lastWarned.clear()
    lastWarned.set(host, now)
    log.warn(`mesh connection from ${remoteAddr} rejected: ${err.message}`)
  }
}
