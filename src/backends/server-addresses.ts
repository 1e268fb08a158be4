import type { ServerName } from './backend-spec.js'

// Where the LLM servers of a workstation usually listen, and how to read what they say about
// themselves. No backend code here: start imports this for every peer, and the backends (and
// detection's probes) only when it needs them.

export interface DetectCandidate {
  name: Exclude<ServerName, 'openai' | 'embedded'>
  kind: 'ollama' | 'openai'
  /** Base URL as the backend takes it (Ollama: no path; OpenAI-compatible: ending in /v1). */
  url: string
}

/**
 * Bound on each probe. A server on loopback answers its model list in a few ms; a filtered port
 * (packets dropped) would otherwise hold the start for the TCP connect timeout.
 */
export const DETECT_TIMEOUT_MS = 250
/** Reading a configured server's slot count may cross a LAN: a little more room than detection. */
export const PROPS_TIMEOUT_MS = 1_000

export const OLLAMA_DEFAULT_PORT = 11434

/**
 * $OLLAMA_HOST as Ollama itself reads it: `host`, `host:port`, or a URL; an empty or unset value
 * is 127.0.0.1:11434, and a bind-all address (0.0.0.0, ::) is reached on loopback.
 */
export function ollamaUrlFromEnv (value: string | undefined): string {
  const text = (value ?? '').trim()
  if (text === '') return `http://127.0.0.1:${OLLAMA_DEFAULT_PORT}`
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `http://${text}`
  let url: URL
  try {
    url = new URL(withScheme)
  } catch {
    return `http://127.0.0.1:${OLLAMA_DEFAULT_PORT}`
  }
  const host = url.hostname === '0.0.0.0' || url.hostname === '[::]' || url.hostname === '' ? '127.0.0.1' : url.hostname
  const port = url.port !== '' ? url.port : url.protocol === 'https:' ? '443' : String(OLLAMA_DEFAULT_PORT)
  const path = url.pathname.replace(/\/+$/, '')
  return `${url.protocol}//${host}:${port}${path}`
}

/** Ollama ($OLLAMA_HOST, else 11434), llama-server (8080), LM Studio (1234), in that order. */
export function defaultCandidates (env: Readonly<Record<string, string | undefined>>): DetectCandidate[] {
  return [
    { name: 'ollama', kind: 'ollama', url: ollamaUrlFromEnv(env.OLLAMA_HOST) },
    { name: 'llama-server', kind: 'openai', url: 'http://127.0.0.1:8080/v1' },
    { name: 'lmstudio', kind: 'openai', url: 'http://127.0.0.1:1234/v1' }
  ]
}

/** "ollama 127.0.0.1:11434": the server's name and where it is, as start reports it. */
export function serverLabel (name: string, url: string): string {
  try {
    return `${name} ${new URL(url).host}`
  } catch {
    return `${name} ${url}`
  }
}

/** llama-server answers GET /props at its root, beside /v1: `http://h:8080/v1` → `http://h:8080/props`. */
export function propsUrl (baseUrl: string): string {
  return baseUrl.replace(/\/+$/, '').replace(/\/v1$/, '') + '/props'
}

/**
 * The slot count a llama-server reports (`total_slots` in /props: its `-np`), so the peer runs as
 * many completions at once as the server does. Servers without /props (vLLM, LM Studio, a cloud
 * API) give undefined, and the default applies.
 */
export async function readSlots (baseUrl: string, signal: AbortSignal, headers: Record<string, string> = {}): Promise<number | undefined> {
  try {
    const response = await fetch(propsUrl(baseUrl), { signal, headers: { accept: 'application/json', ...headers } })
    if (!response.ok) {
      await response.body?.cancel()
      return undefined
    }
    const body = await response.json() as { total_slots?: unknown }
    const slots = body?.total_slots
    return typeof slots === 'number' && Number.isInteger(slots) && slots >= 1 && slots <= 1024 ? slots : undefined
  } catch {
    return undefined
  }
}

/**
 * Whether something accepts TCP connections at the URL's host and port. Detection asks this first:
 * on a machine running none of the servers every port refuses at once, and the start then loads
 * neither the backends' code nor fetch's HTTP stack. False on refusal, error or abort.
 */
export async function portOpen (url: string, signal: AbortSignal): Promise<boolean> {
  let host: string
  let port: number
  try {
    const parsed = new URL(url)
    host = parsed.hostname.replace(/^\[|\]$/g, '')
    port = parsed.port !== '' ? Number(parsed.port) : parsed.protocol === 'https:' ? 443 : 80
  } catch {
    return false
  }
  if (signal.aborted) return false
  const { connect } = await import('node:net')
  return await new Promise<boolean>(resolve => {
    const socket = connect({ host, port })
    const done = (open: boolean): void => {
      signal.removeEventListener('abort', onAbort)
      socket.destroy()
      resolve(open)
    }
    const onAbort = (): void => { done(false) }
    signal.addEventListener('abort', onAbort, { once: true })
    socket.once('connect', () => { done(true) })
    socket.once('error', () => { done(false) })
  })
}
