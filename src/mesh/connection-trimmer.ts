import { peerIdFromString } from '@libp2p/peer-id'
import type { Connection, Stream } from '@libp2p/interface'
import { TypedEventEmitter } from 'main-event'
import type { Logger } from '../log.js'
import type { MeshNode } from './node.js'
import { connectionUse, connectionUses, forgetConnectionUse, MAX_CONNECTION_USES } from './connection-use.js'
import type { BoundedRegistry } from '../util/bounded-registry.js'
import { MAX_TRACKED_PEERS, trimOldest } from '../util/capped.js'
import {
  CONNECTION_CLOSE_TIMEOUT_MS,
  CONNECTION_IDLE_MS,
  CONNECTION_TRIM_INTERVAL_MS,
  DEFAULT_MAX_CONNECTED_PEERS
} from './constants.js'

/** What the trimming policy knows about the connection(s) to one peer. */
export interface PeerConnectionState {
  peerId: string
  /** When the newest connection to the peer opened (ms): a fresh connection counts as used. */
  openedAt: number
  /** When work last used the connection (ms); absent when it never did. */
  lastUsedAt?: number
  /** Work in flight on it (a completion either way, a probe): never closed. */
  busy: boolean
  /** Kept whatever its use (bootstrap peers): never closed. */
  pinned: boolean
}

/**
 * The trimming rule, pure: which peers to hang up on so that at most `max` stay connected. Only
 * peers neither busy nor pinned and unused for at least `idleMs` qualify, least recently used first
 * (ties: by peer id, so the choice is deterministic); never more than the excess over `max`. When
 * too few qualify, the peer stays above the bound until they do.
 */
export function connectionsToClose (conns: readonly PeerConnectionState[], max: number, now: number, idleMs: number): string[] {
  const excess = conns.length - Math.max(0, max)
  if (excess <= 0) return []
  const lastActive = (c: PeerConnectionState): number => Math.max(c.openedAt, c.lastUsedAt ?? -Infinity)
  return conns
    .filter(c => !c.busy && !c.pinned && now - lastActive(c) >= idleMs)
    .sort((a, b) => lastActive(a) - lastActive(b) || (a.peerId < b.peerId ? -1 : a.peerId > b.peerId ? 1 : 0))
    .slice(0, excess)
    .map(c => c.peerId)
}

export interface ConnectionTrimmerInit {
  /** Peers kept connected at most (default DEFAULT_MAX_CONNECTED_PEERS). */
  max?: number
  /** A connection unused this long may be closed (default CONNECTION_IDLE_MS). */
  idleMs?: number
  /** How often the rule runs (default CONNECTION_TRIM_INTERVAL_MS). */
  intervalMs?: number
  /** Peers never trimmed (bootstrap peers). */
  pinned?: () => ReadonlySet<string>
  /**
   * Protocols whose streams may sit open with nothing in flight (the completion stream pool keeps
   * idle streams; a long-lived protocol would too): an open stream of theirs is not an exchange in
   * flight, and their work reports through `whileUsingConnection` instead. Every other open stream
   * (a probe, a view exchange, identify) is a short exchange that blocks trimming while it runs.
   */
  idleStreamProtocols?: readonly string[]
  /** Where `mesh.connection-use` and `mesh.closed-on-purpose` are registered with their bounds. */
  bounded?: BoundedRegistry
  logger: Logger
}

/** One run of the rule: peers connected before it, and the ones it hung up on. */
export interface TrimRound {
  connected: number
  closed: string[]
}

export interface ConnectionTrimmerEvents {
  /** After every round, once its connections are closed. */
  trim: CustomEvent<TrimRound>
}

export interface ConnectionTrimmer extends TypedEventEmitter<ConnectionTrimmerEvents> {
  start: () => void
  /** Stops the timer; a round already closing connections finishes. Idempotent. */
  stop: () => void
  /** Runs one round now (also what the timer does). */
  trim: () => Promise<TrimRound>
  /** Whether we hung up on `peerId` in a recent round: its disconnect is no news about its health. */
  closedOnPurpose: (peerId: string) => boolean
}

/** How long a trimmed peer's disconnect is taken as ours: the close completes well within it. */
export const CLOSED_ON_PURPOSE_MS = 10_000

/**
 * Keeps this peer's connections to a bounded set: every `intervalMs` it hangs up on the idle
 * extras chosen by `connectionsToClose`. Any peer stays reachable: a completion or a probe dials it
 * again on demand, and that connection is trimmed in turn once it has idled.
 *
 * "Use" is completion work (recorded by `whileUsingConnection` on both sides) and the connection's
 * own opening. Membership traffic (probes, view exchange, gossip) flows over whatever connections
 * exist and does not keep one: otherwise periodic probes would pin every connection. A connection
 * with a short exchange in flight (any open stream but those of `idleStreamProtocols`: a probe, a
 * view exchange, identify) is left alone for this round, so no probe fails because we hung up under it.
 */
class Trimmer extends TypedEventEmitter<ConnectionTrimmerEvents> implements ConnectionTrimmer {
  private readonly node: MeshNode
  private readonly max: number
  private readonly idleMs: number
  private readonly intervalMs: number
  private readonly init: ConnectionTrimmerInit
  private readonly idleStreamProtocols: ReadonlySet<string>
  private timer?: NodeJS.Timeout
  private round?: Promise<TrimRound>
  private readonly closedAt = new Map<string, number>()

  constructor (node: MeshNode, init: ConnectionTrimmerInit) {
    super()
    this.node = node
    this.init = init
    this.max = init.max ?? DEFAULT_MAX_CONNECTED_PEERS
    this.idleMs = init.idleMs ?? CONNECTION_IDLE_MS
    this.intervalMs = init.intervalMs ?? CONNECTION_TRIM_INTERVAL_MS
    this.idleStreamProtocols = new Set(init.idleStreamProtocols ?? [])
    if (!Number.isInteger(this.max) || this.max < 1) throw new RangeError(`max connections must be an integer ≥ 1, got ${this.max}`)
    init.bounded?.register({ name: 'mesh.connection-use', limit: MAX_CONNECTION_USES, size: () => connectionUses(node) })
    init.bounded?.register({ name: 'mesh.closed-on-purpose', limit: MAX_TRACKED_PEERS, size: () => this.closedAt.size })
  }

  start (): void {
    if (this.timer != null) return
    this.timer = setInterval(() => { void this.trim() }, this.intervalMs)
    // Housekeeping is no reason to keep the process alive.
    this.timer.unref()
  }

  stop (): void {
    clearInterval(this.timer)
    this.timer = undefined
  }

  closedOnPurpose (peerId: string): boolean {
    return Date.now() - (this.closedAt.get(peerId) ?? -Infinity) < CLOSED_ON_PURPOSE_MS
  }

  async trim (): Promise<TrimRound> {
    // One round at a time: a slow close must not let the next round count the same connections.
    this.round ??= this.runRound().finally(() => { this.round = undefined })
    return await this.round
  }

  private async runRound (): Promise<TrimRound> {
    const now = Date.now()
    const byPeer = new Map<string, Connection[]>()
    for (const connection of this.node.getConnections()) {
      if (connection.status !== 'open') continue
      const peerId = connection.remotePeer.toString()
      const list = byPeer.get(peerId)
      if (list == null) byPeer.set(peerId, [connection])
      else list.push(connection)
    }
    forgetConnectionUse(this.node, peerId => byPeer.has(peerId))
    const pinned = this.init.pinned?.() ?? new Set<string>()
    const states: PeerConnectionState[] = [...byPeer].map(([peerId, connections]) => {
      const use = connectionUse(this.node, peerId)
      return {
        peerId,
        openedAt: Math.max(...connections.map(c => c.timeline.open)),
        ...(use != null ? { lastUsedAt: use.lastUsedAt } : {}),
        busy: (use?.active ?? 0) > 0 || connections.some(c => c.streams.some(s => this.inFlight(s))),
        pinned: pinned.has(peerId)
      }
    })
    const closed = connectionsToClose(states, this.max, now, this.idleMs)
    const result: TrimRound = { connected: states.length, closed }
    rememberClosed(this.closedAt, closed, now)
    if (closed.length > 0) {
      this.init.logger.debug(`closing ${closed.length} idle connection(s): ${states.length} peers connected, bound ${this.max}`)
      // Synchronously after the decision: hangUp marks the connections closing at once, so work
      // starting from here on dials anew instead of picking a connection about to go.
      await Promise.all(closed.map(async peerId => {
        try {
          await this.node.hangUp(peerIdFromString(peerId), { signal: AbortSignal.timeout(CONNECTION_CLOSE_TIMEOUT_MS) })
        } catch (err: any) {
          this.init.logger.debug({ peer: peerId }, `closing an idle connection failed: ${err?.message ?? err}`)
        }
      }))
    }
    this.safeDispatchEvent('trim', { detail: result })
    return result
  }

  /** A stream that is part of an exchange in flight: any open one but those that may idle. */
  private inFlight (stream: Stream): boolean {
    if (stream.status !== 'open' && stream.status !== 'closing') return false
    // A stream still negotiating its protocol has none yet: it is about to carry something.
    return stream.protocol == null || stream.protocol === '' || !this.idleStreamProtocols.has(stream.protocol)
  }
}

export function createConnectionTrimmer (node: MeshNode, init: ConnectionTrimmerInit): ConnectionTrimmer {
  return new Trimmer(node, init)
}

/**
 * Remembers the peers a round closed on purpose (so their disconnect is not taken for a crash) and
 * forgets those closed CLOSED_ON_PURPOSE_MS ago. Each round adds at most the peers it closed and
 * drops what is older than the window; the cap, oldest out first, holds whatever the rate.
 */
export function rememberClosed (closedAt: Map<string, number>, closed: readonly string[], now: number, limit = MAX_TRACKED_PEERS): void {
  for (const [peerId, at] of closedAt) if (now - at >= CLOSED_ON_PURPOSE_MS) closedAt.delete(peerId)
  for (const peerId of closed) closedAt.set(peerId, now)
  trimOldest(closedAt, limit)
}
