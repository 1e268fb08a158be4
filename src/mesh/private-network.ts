import { preSharedKey } from '@libp2p/pnet'
import type { ComponentLogger, ConnectionProtector, MultiaddrConnection, AbortOptions } from '@libp2p/interface'
import { PNET_NONCE_TIMEOUT_MS } from './constants.js'

/** A connection that failed the private network (pnet) handshake: most likely a different or missing mesh key. */
export class PrivateNetworkError extends Error {
  static name = 'PrivateNetworkError'
  name = PrivateNetworkError.name
}

export interface PrivateNetworkInit {
  /** Contents of a pnet v1 key file. */
  psk: Uint8Array
  /** Called once per rejected inbound connection, so the peer can log who knocked with the wrong key. */
  onInboundRejected?: (remoteAddr: string, err: PrivateNetworkError) => void
}

/**
 * What every libp2p peer sends first on a fresh connection: the length-prefixed
 * multistream-select header. Decrypted with the wrong key it is random bytes.
 */
const MSS_HEADER = new Uint8Array([19, ...new TextEncoder().encode('/multistream/1.0.0\n')])

/**
 * libp2p's pnet protector with a fast failure on a key mismatch. Plain pnet has no integrity
 * check: with a wrong key both sides decrypt garbage, and when a garbage length prefix asks for
 * more bytes than were sent, both wait for each other until a dial timeout (measured: 5 of 8
 * dials hung, LIBP2P-NOTES 9). The first bytes from any libp2p peer are known (MSS_HEADER), so
 * the first byte that decrypts to something else proves a mismatch and the connection is
 * dropped at once; the dialer then sees the close within milliseconds. The bytes on the wire
 * are unchanged, so peers with plain pnet (and go-libp2p swarm keys) still interoperate.
 */
export function privateNetwork (init: PrivateNetworkInit): (components: { logger: ComponentLogger }) => ConnectionProtector {
  const inner = preSharedKey({ psk: init.psk, timeout: PNET_NONCE_TIMEOUT_MS })
  return (components) => {
    const pnet = inner(components)
    return {
      async protect (connection: MultiaddrConnection, options?: AbortOptions): Promise<MultiaddrConnection> {
        let protectedConn: MultiaddrConnection
        try {
          protectedConn = await pnet.protect(connection, options)
        } catch (err: any) {
          // The 24-byte nonce exchange comes first: a peer without pnet never completes it.
          const reason = err?.name === 'TimeoutError' ? `no private network handshake from the peer within ${PNET_NONCE_TIMEOUT_MS} ms` : `private network handshake failed (${err?.message ?? err})`
          throw new PrivateNetworkError(`${reason}: the peer has no mesh key or a different one?`, { cause: err })
        }
        const remoteAddr = connection.remoteAddr.toString()
        return {
          ...protectedConn,
          source: expectHeader(protectedConn.source, err => { if (isInbound(connection)) init.onInboundRejected?.(remoteAddr, err) })
        }
      }
    }
  }
}

/**
 * libp2p hands the protector no direction; the upgrader scopes the connection's logger as
 * `…:inbound:<id>` just before protecting it. Unknown counts as outbound: the dialer logs its own failures.
 */
function isInbound (connection: MultiaddrConnection): boolean {
  const namespace = (connection.log as { namespace?: string }).namespace ?? ''
  return namespace.includes('inbound')
}

/** Passes the decrypted stream through once its first bytes are the multistream header. */
async function * expectHeader (
  source: MultiaddrConnection['source'],
  onMismatch: (err: PrivateNetworkError) => void
): MultiaddrConnection['source'] {
  let seen = 0
  const fail = (message: string, cause?: unknown): PrivateNetworkError => {
    const err = new PrivateNetworkError(message, { cause })
    onMismatch(err)
    return err
  }
  try {
    for await (const chunk of source) {
      if (seen < MSS_HEADER.length) {
        const bytes = chunk.subarray()
        const n = Math.min(bytes.length, MSS_HEADER.length - seen)
        for (let i = 0; i < n; i++) {
          if (bytes[i] !== MSS_HEADER[seen + i]) {
            throw fail('private network key mismatch? (the first bytes from the peer do not decrypt to a libp2p handshake)')
          }
        }
        seen += n
      }
      yield chunk
    }
  } catch (err: any) {
    if (err instanceof PrivateNetworkError || seen >= MSS_HEADER.length || err?.code !== 'ECONNRESET') throw err
    throw fail('private network key mismatch? (the peer reset the connection during the handshake)', err)
  }
  if (seen < MSS_HEADER.length) {
    // After the nonce exchange a libp2p peer with our key always answers; one that hangs up read garbage.
    throw fail('private network key mismatch? (the peer closed the connection during the handshake)')
  }
}
