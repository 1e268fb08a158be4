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
import { gossipsub, type GossipsubEvents } from '@chainsafe/libp2p-gossipsub'
import { createTopicScoreParams } from '@chainsafe/libp2p-gossipsub/score'
import { StrictNoSign, type Message, type PeerDiscovery, type PrivateKey, type PubSub } from '@libp2p/interface'
import type { Identify } from '@libp2p/identify'
import { privateNetwork } from './private-network.js'
import { silentLogger, type Logger } from '../log.js'
import {
  DIAL_TIMEOUT_MS,
  GOSSIP_COLOCATION_WHITELIST,
  GOSSIP_D,
  GOSSIP_DHI,
  GOSSIP_DLO,
  GOSSIP_DOUT,
  GOSSIP_DSCORE,
  GOSSIP_HEARTBEAT_MS,
  GOSSIP_INVALID_MESSAGE_WEIGHT,
  GOSSIP_SCORE_DECAY_MS,
  INBOUND_UPGRADE_TIMEOUT_MS,
  KEY_MISMATCH_LOG_INTERVAL_MS,
  PING_MAX_STREAMS,
  INBOUND_CONNECTION_THRESHOLD,
  MAX_CONNECTIONS,
  MAX_GOSSIP_RPC_BYTES,
  MAX_INCOMING_PENDING_CONNECTIONS,
  MEMBERSHIP_TOPIC
} from './constants.js'

export type MeshServices = {
  identify: Identify
  ping: PingService
  pubsub: PubSub<GossipsubEvents>
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
  /**
   * Gossipsub's message id (membership's: from the announcement's peer, version and signature, so
   * each version is checked once). Default: gossipsub's own for unsigned messages, sha256 of the data.
   */
  gossipMessageId?: (message: Message) => Uint8Array
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
      ping: ping({ maxOutboundStreams: PING_MAX_STREAMS, maxInboundStreams: PING_MAX_STREAMS }),
      pubsub: membershipGossipsub(init.gossipMessageId)
    },
    // Liveness is membership's SWIM prober (one probe per period, whatever N is); libp2p's monitor
    // would ping every connection every 10 s on top, a cost that grows with the connections.
    connectionMonitor: { enabled: false }
  }) as Promise<MeshNode>
}

/**
 * Gossipsub for a topic that carries only changes (membership announcements). Our announcements
 * carry their own Ed25519 signature, so messages are unsigned (StrictNoSign: no author, no seqno)
 * and identified by content. No topic score for message rates: on a quiet topic the mesh-delivery
 * penalties would drive honest peers negative; only invalid messages (a Reject) cost score.
 */
function membershipGossipsub (msgIdFn: ((message: Message) => Uint8Array) | undefined): (components: any) => PubSub<GossipsubEvents> {
  return gossipsub({
    globalSignaturePolicy: StrictNoSign,
    ...(msgIdFn != null ? { msgIdFn } : {}),
    // A lone first peer publishes its join to nobody: not an error (LIBP2P-NOTES 4).
    allowPublishToZeroTopicPeers: true,
    emitSelf: false,
    // Our own rare messages go to every connected topic peer, not just the mesh (the default, kept explicit).
    floodPublish: true,
    // Every peer speaks meshsub; no floodsub protocol to register and serve.
    fallbackToFloodsub: false,
    // Only our topic is tracked: other topics' subscriptions are never stored (the published memory-exhaustion advisory).
    allowedTopics: [MEMBERSHIP_TOPIC],
    // The connection trimmer owns the connection set; gossipsub's tags would fight it.
    tagMeshPeers: false,
    maxInboundDataLength: MAX_GOSSIP_RPC_BYTES,
    heartbeatInterval: GOSSIP_HEARTBEAT_MS,
    D: GOSSIP_D,
    Dlo: GOSSIP_DLO,
    Dhi: GOSSIP_DHI,
    Dout: GOSSIP_DOUT,
    Dscore: GOSSIP_DSCORE,
    scoreParams: {
      decayInterval: GOSSIP_SCORE_DECAY_MS,
      IPColocationFactorWhitelist: new Set(GOSSIP_COLOCATION_WHITELIST),
      topics: {
        [MEMBERSHIP_TOPIC]: createTopicScoreParams({
          topicWeight: 1,
          // Time in mesh and first deliveries would only add positive score; a quiet topic has little of either.
          timeInMeshWeight: 0,
          firstMessageDeliveriesWeight: 0,
          // The quiet-topic traps: a mesh peer that delivers no messages is honest here.
          meshMessageDeliveriesWeight: 0,
          meshFailurePenaltyWeight: 0,
          invalidMessageDeliveriesWeight: GOSSIP_INVALID_MESSAGE_WEIGHT,
          invalidMessageDeliveriesDecay: 0.5
        })
      }
    }
  }) as (components: any) => PubSub<GossipsubEvents>
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
