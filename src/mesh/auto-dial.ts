import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import type { PeerId } from '@libp2p/interface'
import type { Logger } from '../log.js'
import { hasOpenConnection, type MeshNode } from './node.js'
import { DEFAULT_DIAL_TARGET, DIAL_TIMEOUT_MS } from './constants.js'
import { createOnce, MAX_TRACKED_PEERS } from '../util/capped.js'
import type { BoundedRegistry } from '../util/bounded-registry.js'

export interface DialTarget {
  peerId: string
  addrs: string[]
}

export interface AutoDialInit {
  /** Bootstrap multiaddrs (each with `/p2p/<id>`): always dialed, and re-dialed while disconnected. */
  bootstrap: string[]
  redialIntervalMs: number
  /** Peers we know of (from gossip or a full view) and want a direct connection to. */
  wanted: () => DialTarget[]
  logger: Logger
  /**
   * Members and mDNS-discovered peers are dialed only while fewer peers than this are connected
   * (default DEFAULT_DIAL_TARGET, half the connection bound): the rest is room for inbound and
   * on-demand connections. Bootstrap peers are dialed while this peer has no connection at all.
   */
  dialTarget?: number
  /**
   * mDNS on: warn once when nothing was discovered this long after start. multicast-dns drops
   * send errors silently (LIBP2P-NOTES 11), so without this a broken multicast route looks like
   * an empty LAN.
   */
  quietDiscoveryWarnMs?: number
  /** Where `mesh.key-warned` is registered with its bound. */
  bounded?: BoundedRegistry
}

export interface AutoDial {
  start: () => void
  stop: () => void
  /** Resolves once connected to any peer (normally a bootstrap peer); rejects with every bootstrap address's last error. */
  waitForBootstrap: (timeoutMs: number, signal?: AbortSignal) => Promise<void>
}

export class BootstrapUnreachableError extends Error {
  static name = 'BootstrapUnreachableError'
  name = BootstrapUnreachableError.name
}

interface BootstrapPeer {
  addr: Multiaddr
  peerId: string
  lastError?: string
}

/**
 * libp2p 2.x does not dial discovered peers by itself (LIBP2P-NOTES 1). This dials them,
 * keeps bootstrap peers connected, and lets only the peer with the smaller id dial a symmetric
 * discovery (mDNS) so two peers do not cross-dial. Members learned from a view are dialed by
 * whoever knows first: the other side may not know us yet. Connections are bounded (issue 12):
 * members and discovered peers are dialed only up to `dialTarget` connected peers, in random
 * order so that peers with the same view do not all crowd onto the same few; the others are
 * reached on demand (a completion or a probe dials by peer id).
 */
export function createAutoDial (node: MeshNode, init: AutoDialInit): AutoDial {
  const self = node.peerId.toString()
  const bootstrap: BootstrapPeer[] = init.bootstrap.map(text => {
    const addr = multiaddr(text)
    const peerId = addr.getPeerId()
    if (peerId == null) throw new TypeError(`bootstrap address ${text} has no /p2p/<peer id>`)
    return { addr, peerId }
  })
  const bootstrapIds = new Set(bootstrap.map(b => b.peerId))
  const dialTarget = init.dialTarget ?? DEFAULT_DIAL_TARGET
  const dialing = new Set<string>()
  // Peers whose mesh key differs, warned about once each: outsiders on the LAN, so capped.
  const keyWarned = createOnce(MAX_TRACKED_PEERS)
  init.bounded?.register({ name: 'mesh.key-warned', limit: MAX_TRACKED_PEERS, size: () => keyWarned.size })
  let timer: NodeJS.Timeout | undefined
  let quietTimer: NodeJS.Timeout | undefined
  let discovered = false
  let running = false
  const log = init.logger

  const isConnected = (peerId: string): boolean => hasOpenConnection(node, peerId)

  /** Peers connected or being dialed, against the dial target. */
  const connectedOrDialing = (): number => {
    const peers = new Set(dialing)
    for (const c of node.getConnections()) if (c.status === 'open') peers.add(c.remotePeer.toString())
    return peers.size
  }
  const hasRoom = (): boolean => connectedOrDialing() < dialTarget

  const dial = (peerId: string, target: PeerId | Multiaddr | Multiaddr[], onError?: (message: string) => void): void => {
    if (!running || dialing.has(peerId) || peerId === self || isConnected(peerId)) return
    dialing.add(peerId)
    node.dial(target, { signal: AbortSignal.timeout(DIAL_TIMEOUT_MS) })
      .then(() => {
        keyWarned.forget(peerId)
        log.debug({ peer: peerId }, 'dialed')
      })
      .catch((err: any) => {
        const message = describeDialError(err)
        onError?.(message)
        if (isKeyMismatch(message)) {
          // Re-dialed every interval, and the close can surface as an end or a reset: say it once per peer until it connects.
          if (!keyWarned.first(peerId)) return
          log.warn({ peer: peerId }, `mesh connection to ${describeTarget(peerId, target)} failed: ${message}`)
        } else {
          log.debug({ peer: peerId }, `dial failed: ${message}`)
        }
      })
      .finally(() => dialing.delete(peerId))
  }

  const dialBootstrap = (): void => {
    for (const b of bootstrap) {
      dial(b.peerId, b.addr, message => { b.lastError = message })
    }
  }

  const offer = (peerId: PeerId, multiaddrs: Multiaddr[]): void => {
    const id = peerId.toString()
    if (id === self) return
    discovered = true
    if (bootstrapIds.has(id)) return // dialed by address in dialBootstrap
    // libp2p reports a peer once, when it first enters the peer store: one skipped for lack of
    // room is reached later through membership (its view lists it) or by dialing us.
    if (self < id && hasRoom()) dial(id, multiaddrs.length > 0 ? multiaddrs : peerId)
  }

  const onDiscovery = (event: CustomEvent<{ id: PeerId, multiaddrs: Multiaddr[] }>): void => {
    offer(event.detail.id, event.detail.multiaddrs)
  }

  /**
   * Peers discovered before start: the node starts (and mDNS answers) while the rest of the peer
   * is still being built, and libp2p announced them then, to nobody. Missing one left both peers
   * of a LAN alone for good when the one with the smaller id was the one that missed it.
   */
  const offerKnown = async (): Promise<void> => {
    for (const peer of await node.peerStore.all()) {
      if (!running) return
      if (!isConnected(peer.id.toString())) offer(peer.id, peer.addresses.map(a => a.multiaddr))
    }
  }

  const tick = (): void => {
    // Bootstrap peers are the way in, not a hub: dialed until we are in the mesh, and again only
    // if we lose every connection. Kept connected by everyone, one peer would hold N connections.
    if (connectedOrDialing() === 0) dialBootstrap()
    let room = dialTarget - connectedOrDialing()
    if (room <= 0) return
    for (const target of shuffled(init.wanted())) {
      if (room <= 0) break
      if (target.addrs.length === 0 || target.peerId === self || dialing.has(target.peerId) || isConnected(target.peerId)) continue
      room--
      try {
        dial(target.peerId, target.addrs.map(a => multiaddr(a)))
      } catch (err: any) {
        log.debug({ peer: target.peerId }, `unusable address: ${err?.message ?? err}`)
      }
    }
  }

  return {
    start () {
      if (running) return
      running = true
      node.addEventListener('peer:discovery', onDiscovery)
      offerKnown().catch((err: any) => { log.debug(`could not read the peer store: ${err?.message ?? err}`) })
      tick()
      timer = setInterval(tick, init.redialIntervalMs)
      timer.unref()
      if (init.quietDiscoveryWarnMs != null) {
        quietTimer = setTimeout(() => {
          if (!discovered && node.getPeers().length === 0) {
            log.warn(`no peer answered mDNS within ${init.quietDiscoveryWarnMs} ms: alone on this LAN, or multicast does not get through (firewall, VPN, no multicast route); use --bootstrap to join explicitly`)
          }
        }, init.quietDiscoveryWarnMs)
        quietTimer.unref()
      }
    },
    stop () {
      if (!running) return
      running = false
      node.removeEventListener('peer:discovery', onDiscovery)
      clearInterval(timer)
      clearTimeout(quietTimer)
    },
    async waitForBootstrap (timeoutMs, signal) {
      // In the mesh through anyone counts: a peer that dialed us first spares the bootstrap dial.
      if (bootstrap.length === 0 || node.getConnections().some(c => c.status === 'open')) return
      await new Promise<void>((resolve, reject) => {
        const cleanup = (): void => {
          clearTimeout(timeout)
          node.removeEventListener('peer:connect', onConnect)
          signal?.removeEventListener('abort', onAbort)
        }
        const onConnect = (): void => { cleanup(); resolve() }
        const onAbort = (): void => { cleanup(); reject(signal?.reason) }
        const timeout = setTimeout(() => {
          cleanup()
          const reasons = bootstrap.map(b => `${b.addr.toString()} (${b.lastError ?? 'no answer'})`).join(', ')
          reject(new BootstrapUnreachableError(`cannot reach any bootstrap peer within ${timeoutMs} ms: ${reasons}`))
        }, timeoutMs)
        node.addEventListener('peer:connect', onConnect)
        signal?.addEventListener('abort', onAbort, { once: true })
      })
    }
  }
}

/** A copy of `items` in random order (Fisher–Yates). */
function shuffled<T> (items: readonly T[]): T[] {
  const copy = [...items]
  for (let i = copy.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1))
    const item = copy[i] as T
    copy[i] = copy[j] as T
    copy[j] = item
  }
  return copy
}

export function describeDialError (err: any): string {
  // libp2p wraps the socket error in an AggregateError of per-address failures.
  const inner = err?.errors?.[0] ?? err
  const code = inner?.code ?? inner?.cause?.code
  if (code === 'ECONNREFUSED') return 'connection refused'
  if (err?.name === 'TimeoutError' || err?.name === 'AbortError') return 'timed out'
  const message = String(inner?.message ?? err?.message ?? err)
  if (/private network|mesh key/.test(message)) return message
  // A peer on a private mesh answers a dialer without the key with garbage or hangs up, which
  // fails multistream-select in these ways (measured); other handshake errors are not this.
  if (inner?.name === 'EncryptionFailedError' && /unexpected end of input|message length|missing newline|invalid/i.test(message)) {
    return `handshake failed (${message}): private network key mismatch? (is one side started without --mesh-key?)`
  }
  return message
}

export function isKeyMismatch (message: string): boolean {
  return message.includes('private network key mismatch?') || message.includes('mesh key')
}

function describeTarget (peerId: string, target: PeerId | Multiaddr | Multiaddr[]): string {
  const addrs = Array.isArray(target) ? target : 'getPeerId' in target ? [target] : []
  return addrs.length > 0 ? `${peerId} at ${addrs.map(a => a.toString()).join(', ')}` : peerId
}
