import type { Member } from '../membership/types.js'

// The JSON of `GET /api/cluster` (and `status --json`): the server (http/) writes it, the client
// (client/, cli/) reads it. Both import the shapes from here, so neither imports the other.

/** One peer as `GET /api/cluster` and `harombe-peer status --json` show it. */
export interface PeerJson {
  peer_id: string
  name: string
  /** The name it was started with when another live peer held it (it took `name` instead). */
  wanted_name: string | null
  self: boolean
  state: Member['state']
  reason: string
  models: string[]
  /** What it should serve but does not right now, and why (null: nothing missing). */
  unserved: { models: string[], reason: string } | null
  tier: number
  enabled: boolean
  load: { active: number, queued: number, capacity: number }
  api_port: number
  addrs: string[]
  version: string
  incarnation: number
  last_seen_ms: number
  state_since: string
  latency_ms: number | null
}

export interface ClusterJson {
  /** `backends`: what this peer's backends list now ("ollama 127.0.0.1:11434: a, b · lmstudio …"), absent for a routing-only peer. */
  self: { peer_id: string, name: string, api: string, addrs: string[], backends?: string }
  generated_at: string
  peers: PeerJson[]
  /** Every node of the cluster file this peer was started with (empty without one), in file order. */
  nodes: ListedNodeJson[]
}

/**
 * A cluster-file node as this peer sees it:
 * - `alive`: in the mesh view and alive (this peer's own entry is always alive);
 * - `reachable`: its HTTP API answers, but the mesh does not (yet) reach it;
 * - `unreachable`: its API does not answer and the mesh holds it not alive;
 * - `checking`: started moments ago, the first check has not come back;
 * - `disabled`: `enabled: false` in the file; never dialed, polled or routed to.
 */
export type ListedNodeState = 'alive' | 'reachable' | 'unreachable' | 'checking' | 'disabled'

/** One node of the cluster file in `GET /api/cluster` (`nodes`). */
export interface ListedNodeJson {
  name: string
  host: string
  port: number
  /** What the file says it serves; the mesh view has what it really announces. */
  models: string[]
  tier: number
  enabled: boolean
  /** This peer's own entry. */
  self: boolean
  state: ListedNodeState
  reason: string
  peer_id: string | null
  /** Round trip of the last HTTP check. */
  latency_ms: number | null
  /** When the state last changed, as far as this peer knows. */
  since: string | null
  last_error: string | null
}
