// The membership vocabulary shared by the wire codec, the pure view and the HTTP API.

export type Tier = 0 | 1 | 2

export interface Load {
  active: number
  queued: number
  capacity: number
}

/** What a peer says about itself on `harombe/membership/1` (snake_case: it is a wire format). */
export interface Announcement {
  peer_id: string
  name: string
  /** Grows on every process start, so a re-joined peer overrides what others remember. */
  incarnation: number
  /** Grows with every announcement within one incarnation. */
  seq: number
  state: 'alive' | 'leaving'
  models: string[]
  /**
   * Content digests of served models, where the backend reports one (GGUF sha256, Ollama's digest),
   * shortened to 16 hex digits: a handover continues an answer only on the same model.
   */
  digests?: Record<string, string>
  /**
   * Model files this peer shares (issue 16), as the first 16 hex digits of their sha256, at most 32:
   * enough to find holders; names, sizes and full hashes come from its `/harombe/models/1.0.0` catalogue.
   */
  files?: string[]
  /**
   * What the peer is configured to serve but does not right now, and why ("backend down: the
   * ollama backend at …: connection refused"), so every view can name the problem (issue 27).
   * Absent when it serves everything it should.
   */
  unserved?: { models: string[], reason: string }
  /** The name it was started with, when another live peer already held it and it took `name` instead (issue 27). */
  wanted_name?: string
  tier: Tier
  enabled: boolean
  load: Load
  api_port: number
  /** Mesh addresses, so peers that only heard of us through gossip can dial us directly. */
  addrs: string[]
  version: string
  /**
   * The peer's own Ed25519 signature over the other fields (base64). The only signature there is:
   * gossipsub messages are unsigned (StrictNoSign), so an announcement is checked the same way
   * whoever relays it, on the topic, in a SWIM message or in a full view.
   */
  sig?: string
}

export type MemberState = 'alive' | 'suspect' | 'dead' | 'left'

export interface Member {
  peerId: string
  announcement: Announcement
  state: MemberState
  /** Why the member is in its current state, for humans (`connection closed`, `ping failed: …`). */
  reason: string
  /** When the current state began (ms, the view's clock). */
  stateSince: number
  /** Last time we had fresh evidence of life: a newer announcement or a successful ping. */
  lastHeard: number
}
