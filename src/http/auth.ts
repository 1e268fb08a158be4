import { createHash, timingSafeEqual } from 'node:crypto'
import { isIP } from 'node:net'

/**
 * Returns a check for `Authorization` headers against the API token. Both sides are hashed
 * first, so the comparison is constant-time in the token and `timingSafeEqual` always gets two
 * 32-byte buffers: a byte-by-byte `!==` would let a caller find the token one byte at a time,
 * and comparing raw bytes would leak its length.
 */
export function bearerTokenCheck (token: string): (authorization: string | undefined) => boolean {
  if (token === '') throw new RangeError('an empty API token would let every caller in')
  const expected = digest(token)
  return (authorization) => {
    // RFC 7235: the scheme name is case-insensitive; the OpenAI and Ollama clients send `Bearer`.
    const match = /^bearer +(.*)$/is.exec(authorization ?? '')
    // A missing header is compared like a wrong token, so both take the same time.
    const presented = digest(match?.[1] ?? '')
    return timingSafeEqual(presented, expected) && match != null
  }
}

function digest (text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest()
}

/**
 * True when `host` only accepts connections from this machine. Names other than `localhost`
 * count as exposed: what they resolve to is not known here.
 */
export function isLoopbackHost (host: string): boolean {
  const bare = host.trim().toLowerCase().replace(/^\[(.*)\]$/, '$1').replace(/\.$/, '')
  if (bare === 'localhost' || bare.endsWith('.localhost')) return true
  if (isIP(bare) === 4) return bare.startsWith('127.')
  if (isIP(bare) === 6) {
    // The URL parser normalises every spelling of ::1 and of IPv4-mapped 127.x.
    const normal = new URL(`http://[${bare}]/`).hostname
    return normal === '[::1]' || /^\[::ffff:7f[0-9a-f]{2}:[0-9a-f]{1,4}\]$/.test(normal)
  }
  return false
}

/** The start-up warning for an API that other machines can reach without a token; undefined when there is nothing to warn about. */
export function exposedApiWarning (host: string, token: string | undefined): string | undefined {
  if (isLoopbackHost(host) || (token != null && token !== '')) return undefined
  return `the HTTP API listens on ${host} without a token: anyone who can reach this machine can use it and your backend; set --token (or HAROMBE_TOKEN), or bind --api-host 127.0.0.1`
}
