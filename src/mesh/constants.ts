// Mesh defaults, one per line, each with the reason for its value.

/** Push-pull of the full view: a joiner's first contact, and anti-entropy with one random member now and then. */
export const VIEW_PROTOCOL = '/harombe/view/1.0.0'

/** SWIM probes, indirect probes and gossip of changes: one request frame, one reply frame per stream. */
export const SWIM_PROTOCOL = '/harombe/swim/1.0.0'

/** A membership message carries at most a few announcements (MAX_PIGGYBACK); 64 KiB leaves room, and bounds what a peer must buffer. */
export const MAX_SWIM_FRAME_BYTES = 64 * 1024

/** Concurrent membership streams per connection: a probe, relayed probes for others, gossip and a view exchange at once, with headroom. */
export const SWIM_MAX_STREAMS = 32

/**
 * The gossipsub topic of membership announcements (DESIGN): each peer's signed announcement on
 * join, on every change, on refutation and on leave. Nothing periodic is published on it.
 */
export const MEMBERSHIP_TOPIC = 'harombe/membership/1'

/**
 * Gossipsub's stream protocols (@chainsafe/libp2p-gossipsub 14.x does not export them). Its
 * streams stay open for a connection's life, like SWIM's: an open one is no exchange in flight.
 */
export const GOSSIPSUB_PROTOCOLS = ['/meshsub/1.2.0', '/meshsub/1.1.0', '/meshsub/1.0.0'] as const

/**
 * Largest gossipsub RPC read: a batch of a few announcements (4 KiB each) plus control messages;
 * far below the ~4 MiB that kills a link (LIBP2P-NOTES 5), so a hostile peer cannot make us buffer much.
 */
export const MAX_GOSSIP_RPC_BYTES = 256 * 1024

/**
 * Gossipsub's heartbeat (its default is 1 s): mesh upkeep and gossip of recent messages. On a
 * topic that carries only changes there is nothing to gossip nearly always, and our own changes go
 * to every connected topic peer at once (flood publish), so upkeep every 5 s is plenty; it cost a
 * lone idle node ~0.5 ms of CPU a second at 1 s, ~0.25 at 5 s (measured here, a bare libp2p node).
 * A joiner's mesh fills at its first heartbeats; its join also goes over SWIM meanwhile (carriers.ts).
 */
export const GOSSIP_HEARTBEAT_MS = 5_000

/**
 * Gossipsub mesh degree for our topic (defaults D 6, Dlo 4, Dhi 12): every peer receives each
 * message about once from each of its mesh peers, so the degree is the topic's duplication factor.
 * A change-only topic needs redundancy, not bandwidth: our own publishes go to every connected
 * topic peer (flood publish), and IHAVE gossip and SWIM's push-pull repair a lost copy. Measured in
 * a 20-process start wave (bench convergence): the default mesh grew to ~12 of ~15 connections, and
 * each peer received ~260 copies of ~48 distinct messages.
 */
export const GOSSIP_D = 4
/** Below this many mesh peers a heartbeat grafts more (default 4). */
export const GOSSIP_DLO = 3
/** Above this many a heartbeat prunes, and grafts beyond it are refused (default 12). */
export const GOSSIP_DHI = 6
/** Outbound mesh peers kept (must be < Dlo and ≤ D / 2; default 2). */
export const GOSSIP_DOUT = 1
/** Mesh peers kept by score when pruning (≤ D; default 4). */
export const GOSSIP_DSCORE = 2

/** Gossipsub score decay runs this often (default 1 s); decay factors are per interval, so a forger's penalty lasts longer, which is fine. */
export const GOSSIP_SCORE_DECAY_MS = 5_000

/**
 * Rejected messages a peer may send before gossipsub stops talking to it: each costs
 * −weight × count² score (one: −10; three: −90, below the graylist threshold of −80).
 */
export const GOSSIP_INVALID_MESSAGE_WEIGHT = -10

/**
 * Addresses gossipsub's IP-colocation penalty ignores: many peers on one machine are a test or a
 * demo, not a Sybil attack (more than 10 on one IP are penalised and pruned, LIBP2P-NOTES 3).
 */
export const GOSSIP_COLOCATION_WHITELIST = ['127.0.0.1', '::1'] as const

/** Announcements above this size are rejected: a near-4 MiB gossip message kills the link (LIBP2P-NOTES 5). */
export const MAX_ANNOUNCEMENT_BYTES = 4 * 1024

/** Shared files an announcement lists: 32 × ~19 bytes stays well inside its 4 KiB. */
export const MAX_ANNOUNCED_FILES = 32

/** A full view is one frame of every member's announcement; 1 MiB holds ~250 peers of max size, far above a home lab. */
export const MAX_VIEW_FRAME_BYTES = 1024 * 1024

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

/**
 * Issue 12: peers kept connected at once (DESIGN: a bounded set of ≤ 16); others are dialed on
 * demand. ~1 MB of RSS per connection (LIBP2P-NOTES): a peer's footprint stays flat however large
 * the lab grows, and 16 is still several times SWIM's k = 3 relays and gossip fanout of 3.
 */
export const DEFAULT_MAX_CONNECTED_PEERS = 16

/**
 * Auto-dial stops at half the bound: the other half is room for inbound connections and on-demand
 * dials, so the trimmer seldom has work. Random picks of 8 per peer keep the connection graph
 * connected with near certainty (measured at 24 peers in test/integration/bounded-connections-mesh).
 */
export const DEFAULT_DIAL_TARGET = DEFAULT_MAX_CONNECTED_PEERS / 2

/**
 * A connection without completion traffic this long may be trimmed. Not below the completion
 * protocol's stream idle timeouts (20 s caller, 30 s server): a stream kept for the next request is
 * not cut from under a caller that is merely between requests.
 */
export const CONNECTION_IDLE_MS = 30_000

/** Trimming is housekeeping: a few idle extras for a few seconds cost nothing; 5 s matches the LAN redial interval. */
export const CONNECTION_TRIM_INTERVAL_MS = 5_000

/** A trimmed connection closes gracefully (the peer sees its streams end); one whose peer does not answer is aborted after this. */
export const CONNECTION_CLOSE_TIMEOUT_MS = 1_000
