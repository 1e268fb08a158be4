// Mesh defaults, one per line, each with the reason for its value.

/** Gossipsub topic that carries membership announcements. */
export const MEMBERSHIP_TOPIC = 'harombe/membership/1'

/** Full-view exchange on every new connection, so a joiner converges without waiting for gossip. */
export const VIEW_PROTOCOL = '/harombe/view/1.0.0'

/** Announcements above this size are rejected: a near-4 MiB gossip message kills the link (LIBP2P-NOTES 5). */
export const MAX_ANNOUNCEMENT_BYTES = 4 * 1024

/** A full view is one frame of every member's announcement; 1 MiB holds ~250 peers of max size, far above a home lab. */
export const MAX_VIEW_FRAME_BYTES = 1024 * 1024

/** Gossipsub's inbound RPC limit: several announcements batched per RPC, well under the 4 MiB that breaks links. */
export const MAX_GOSSIP_RPC_BYTES = 256 * 1024

/** Dials on loopback take ~9 ms; 5 s leaves room for a slow LAN and bounds a handshake that stalls (LIBP2P-NOTES 9; a wrong mesh key fails in ms, see private-network.ts). */
export const DIAL_TIMEOUT_MS = 5_000

/** @libp2p/pnet's default: a pnet peer sends its 24-byte nonce within one round trip; a peer without a mesh key never does. */
export const PNET_NONCE_TIMEOUT_MS = 1_000

/** An inbound handshake that stalls (an outsider, a wrong mesh key on a peer without our fast check) frees its pending slot as fast as a dial gives up; the default is 10 s. */
export const INBOUND_UPGRADE_TIMEOUT_MS = DIAL_TIMEOUT_MS

/** Repeated wrong-key connections from one host are warned about once a minute: a misconfigured peer re-dials every second. */
export const KEY_MISMATCH_LOG_INTERVAL_MS = 60_000

/** The default of 5 inbound connections/s per IP throttles a dozen local peers starting together (LIBP2P-NOTES 2). */
export const INBOUND_CONNECTION_THRESHOLD = 1_000

/** Parallel handshakes allowed; a whole lab joining at once must not queue behind the default of 10. */
export const MAX_INCOMING_PENDING_CONNECTIONS = 256

/** A full mesh of a large lab plus clients; the default (300) is fine, kept explicit so it is a decision. */
export const MAX_CONNECTIONS = 300

/** The view exchange and a ping must answer fast or not at all. */
export const VIEW_EXCHANGE_TIMEOUT_MS = 5_000

/** Concurrent ping streams per connection: failure-detector probes, latency samples and libp2p's connection monitor. */
export const PING_MAX_STREAMS = 8
