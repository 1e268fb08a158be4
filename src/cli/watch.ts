import { setTimeout as sleep } from 'node:timers/promises'
import { readSse } from '../backends/sse.js'
import type { ClusterJson } from '../api/cluster-json.js'
import { ApiError, apiFailureOf, isTransient, summarizeApiFailure } from './api-failure.js'
import { CLUSTER_VIEW, fetchJson, REQUEST_TIMEOUT_MS } from './http-get.js'
import { formatStatus } from './status-table.js'
import { painter, shouldColor, type Paint } from './format.js'

// `status --watch`: follows GET /api/cluster/events (a snapshot, then one event per view change),
// re-reads /api/cluster on each change and every interval (so "last seen" ticks and a silent
// peer is noticed), and redraws. A peer that goes away is retried until Ctrl-C.

export interface WatchOptions {
  api: string
  token?: string
  json: boolean
  intervalMs: number
}

/** Pause between reconnect attempts: a restarting peer is back within a second or two. */
const RECONNECT_MS = 1_000

interface Screen {
  update: (cluster: ClusterJson) => void
  reconnecting: (message: string, attempt: number) => void
}

/** Runs until SIGINT or SIGTERM (exit 0); a wrong token or a non-peer API fails at once (exit 1). */
export async function runWatch (options: WatchOptions): Promise<number> {
  const stop = new AbortController()
  const onSignal = (): void => { stop.abort() }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  const screen = options.json
    ? jsonScreen()
    : process.stdout.isTTY === true ? ttyScreen(options, painter(shouldColor(process.stdout))) : logScreen(options)
  let attempt = 0
  try {
    while (!stop.signal.aborted) {
      let message: string
      try {
        await follow(options, stop.signal, screen, () => { attempt = 0 })
        if (stop.signal.aborted) break
        message = `${options.api} closed the event stream`
      } catch (err) {
        if (stop.signal.aborted) break
        if (!(err instanceof ApiError) || !isTransient(err.failure)) throw err
        message = summarizeApiFailure(options.api, err.failure)
      }
      screen.reconnecting(message, ++attempt)
      await sleep(RECONNECT_MS, undefined, { signal: stop.signal }).catch(() => {})
    }
    return 0
  } finally {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
  }
}

/** One connection: resolves when the peer ends the stream or on `stop`, throws an ApiError when it fails. */
async function follow (options: WatchOptions, stop: AbortSignal, screen: Screen, onConnected: () => void): Promise<void> {
  const session = new AbortController()
  const abortSession = (): void => { session.abort() }
  stop.addEventListener('abort', abortSession, { once: true })
  let refreshError: unknown
  let timer: NodeJS.Timeout | undefined
  const refresh = coalesced(async () => {
    screen.update(await fetchJson<ClusterJson>(options.api, '/api/cluster', { token: options.token, signal: session.signal, expect: CLUSTER_VIEW }))
  }, err => {
    refreshError ??= err
    session.abort()
  })
  let connected = false
  let failure: unknown
  try {
    const body = await openEvents(options, session.signal)
    connected = true
    onConnected()
    timer = setInterval(refresh, options.intervalMs)
    for await (const event of readSse(body)) {
      if (event.event === 'snapshot') {
        const cluster = parseJson(event.data)
        if (!CLUSTER_VIEW.test(cluster)) throw new ApiError(options.api, { kind: 'not-a-peer', path: '/api/cluster/events', what: 'a cluster view' })
        screen.update(cluster as ClusterJson)
      } else if (event.event === 'change') {
        refresh()
      }
    }
  } catch (err) {
    failure = err
  } finally {
    clearInterval(timer)
    stop.removeEventListener('abort', abortSession)
    session.abort()
  }
  if (stop.aborted || (refreshError == null && failure == null)) return
  throw watchError(options, refreshError ?? failure, connected)
}

function watchError (options: WatchOptions, error: unknown, connected: boolean): ApiError {
  const failure = error instanceof ApiError ? error.failure : apiFailureOf(error, options.token != null)
  // Once connected, a peer going away shows as whatever the socket saw first ("other side
  // closed", a reset, a refused refresh); to the user it is one thing. The retry says more.
  if (connected && (failure == null || failure.kind === 'unreachable')) return new ApiError(options.api, { kind: 'unreachable', cause: 'connection lost' })
  if (error instanceof ApiError) return error
  return new ApiError(options.api, failure ?? { kind: 'unreachable', cause: (error as Error)?.message ?? String(error) })
}

async function openEvents (options: WatchOptions, signal: AbortSignal): Promise<ReadableStream<Uint8Array>> {
  const path = '/api/cluster/events'
  const tokenSent = options.token != null
  // Bounds the wait for the answer's head only: the stream itself stays open for as long as we watch.
  const connect = new AbortController()
  const onAbort = (): void => { connect.abort() }
  signal.addEventListener('abort', onAbort, { once: true })
  let timedOut = false
  const timer = setTimeout(() => { timedOut = true; connect.abort() }, REQUEST_TIMEOUT_MS)
  let res: Response
  try {
    res = await fetch(new URL(path, options.api), {
      headers: { accept: 'text/event-stream', ...(tokenSent ? { authorization: `Bearer ${options.token}` } : {}) },
      signal: connect.signal
    })
  } catch (err) {
    if (timedOut) throw new ApiError(options.api, { kind: 'timeout', ms: REQUEST_TIMEOUT_MS })
    if (signal.aborted) throw err
    throw new ApiError(options.api, apiFailureOf(err, tokenSent) ?? { kind: 'unreachable', cause: (err as Error).message })
  } finally {
    clearTimeout(timer)
  }
  const fail = (failure: ApiError['failure']): never => {
    res.body?.cancel().catch(() => {})
    throw new ApiError(options.api, failure)
  }
  if (res.status === 401 || res.status === 403) fail({ kind: 'unauthorized', status: res.status, tokenSent })
  if (!res.ok) fail({ kind: 'http', status: res.status, detail: '' })
  if (res.body == null || !(res.headers.get('content-type') ?? '').startsWith('text/event-stream')) fail({ kind: 'not-a-peer', path, what: 'an event stream' })
  return res.body as ReadableStream<Uint8Array>
}

function parseJson (text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

/** Runs `task` now, or once more after the run in flight when called meanwhile: never two at once. */
function coalesced (task: () => Promise<void>, onError: (err: unknown) => void): () => void {
  let running = false
  let again = false
  const run = async (): Promise<void> => {
    running = true
    try {
      do {
        again = false
        await task()
      } while (again)
    } catch (err) {
      onError(err)
    } finally {
      running = false
    }
  }
  return () => {
    if (running) again = true
    else void run()
  }
}

/** NDJSON: one cluster view per update on stdout; connection trouble on stderr, once per outage. */
function jsonScreen (): Screen {
  let lastMessage: string | undefined
  return {
    update (cluster) {
      lastMessage = undefined
      process.stdout.write(JSON.stringify(cluster) + '\n')
    },
    reconnecting (message) {
      if (message === lastMessage) return
      lastMessage = message
      process.stderr.write(`harombe-peer: ${message} — reconnecting…\n`)
    }
  }
}

// Cursor home, then each line cleared to its end and the rest of the screen cleared: the table
// is overwritten in place instead of blanking the whole screen (no flicker).
const HOME = '\x1b[H'
const CLEAR_SCREEN = '\x1b[2J'
const CLEAR_LINE_END = '\x1b[K'
const CLEAR_BELOW = '\x1b[J'

/** A live table that redraws in place on every update and every reconnect attempt. */
function ttyScreen (options: WatchOptions, paint: Paint): Screen {
  let last: ClusterJson | undefined
  let first = true
  const draw = (footer: string): void => {
    const body = last != null ? formatStatus(last, paint) : `connecting to ${options.api}…`
    const lines = [...body.split('\n'), '', footer]
    process.stdout.write((first ? CLEAR_SCREEN : '') + HOME + lines.map(l => l + CLEAR_LINE_END).join('\n') + '\n' + CLEAR_BELOW)
    first = false
  }
  return {
    update (cluster) {
      last = cluster
      draw(paint('dim', `watching ${options.api} · updated ${new Date().toLocaleTimeString()} · every ${options.intervalMs / 1000} s · Ctrl-C to stop`))
    },
    reconnecting (message, attempt) {
      draw(paint('yellow', `${message} — reconnecting… (attempt ${attempt})`))
    }
  }
}

/**
 * Not a terminal (a pipe, a log file): a new table only when the view changed (timings aside),
 * each under a timestamped rule; connection trouble once per outage.
 */
function logScreen (options: WatchOptions): Screen {
  let lastSignature: string | undefined
  let lastMessage: string | undefined
  const rule = (text: string): string => `--- ${new Date().toISOString()} · ${text} ---\n`
  return {
    update (cluster) {
      const signature = JSON.stringify(cluster.peers.map(p => [p.peer_id, p.name, p.state, p.enabled, p.tier, p.models, p.load]))
      if (signature === lastSignature && lastMessage == null) return
      lastSignature = signature
      lastMessage = undefined
      process.stdout.write(rule(`view of ${options.api}`) + formatStatus(cluster) + '\n\n')
    },
    reconnecting (message) {
      if (message === lastMessage) return
      lastMessage = message
      process.stdout.write(rule(`${message} — reconnecting…`))
    }
  }
}
