import { resolve } from 'node:path'
import { errorDetail } from '../backends/upstream.js'
import type { PullEvent } from '../sharing/events.js'
import { ApiError, apiFailureOf } from './api-failure.js'
import { CommandFailedError } from './errors.js'
import { checkApiUrl, tokenFrom } from './http-get.js'
import { eventLine, progressLine } from './pull-progress.js'

export interface PullFlags {
  api: string
  token?: string
  to?: string
  json?: boolean
  /** `--into-ollama` alone: Ollama's default store on the peer's machine; with a value: that directory. */
  intoOllama?: boolean | string
}

/** No pull event for this long means the peer or the pull is stuck (progress comes every 250 ms). */
const SILENCE_TIMEOUT_MS = 120_000

/**
 * `harombe-peer pull <name|sha256>`: the peer at `--api` finds the holders and downloads; this
 * command shows its events (a bar on a TTY, NDJSON with --json). Exit 1 when the pull fails.
 */
export async function runPull (ref: string, flags: PullFlags): Promise<void> {
  const api = checkApiUrl(flags.api)
  const token = tokenFrom(flags.token)
  const controller = new AbortController()
  process.once('SIGINT', () => { controller.abort(new Error('interrupted')) })
  let silence: NodeJS.Timeout | undefined
  const heard = (): void => {
    clearTimeout(silence)
    silence = setTimeout(() => { controller.abort(new Error(`no word from the peer for ${SILENCE_TIMEOUT_MS / 1000} s`)) }, SILENCE_TIMEOUT_MS)
  }
  heard()
  const body = {
    model: ref,
    // Relative to where the user typed it, not to where the peer runs.
    ...(flags.to != null ? { to: resolve(flags.to) } : {}),
    ...(flags.intoOllama != null ? { into_ollama: typeof flags.intoOllama === 'string' ? resolve(flags.intoOllama) : flags.intoOllama } : {})
  }
  let res: Response
  try {
    res = await fetch(new URL('/api/models/pull', api), {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token != null ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify(body),
      signal: controller.signal
    })
  } catch (err) {
    clearTimeout(silence)
    throw new ApiError(flags.api, apiFailureOf(err, token != null) ?? { kind: 'unreachable', cause: (err as Error)?.message ?? String(err) })
  }
  if (res.status === 401 || res.status === 403) { clearTimeout(silence); throw new ApiError(flags.api, { kind: 'unauthorized', status: res.status, tokenSent: token != null }) }
  if (!res.ok || res.body == null) { clearTimeout(silence); throw new CommandFailedError(`pull failed: ${errorDetail(await res.text())} (HTTP ${res.status} from ${flags.api})`) }

  const tty = flags.json !== true && process.stderr.isTTY
  let barShown = false
  let last: PullEvent | undefined
  const show = (event: PullEvent): void => {
    last = event
    if (flags.json === true) { process.stdout.write(JSON.stringify(event) + '\n'); return }
    if (event.type === 'progress') {
      if (!tty) return
      process.stderr.write(`\r${progressLine(event, process.stderr.columns ?? 80)}\x1b[K`)
      barShown = true
      return
    }
    const line = eventLine(event)
    if (line == null) return
    if (barShown) { process.stderr.write('\n'); barShown = false }
    ;(event.type === 'done' ? process.stdout : process.stderr).write(line + '\n')
  }
  try {
    const decoder = new TextDecoder()
    let buffered = ''
    const reader = res.body.getReader()
    while (true) {
      const { done, value: piece } = await reader.read()
      if (done) break
      heard()
      buffered += decoder.decode(piece, { stream: true })
      let newline: number
      while ((newline = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, newline).trim()
        buffered = buffered.slice(newline + 1)
        if (line !== '') show(JSON.parse(line) as PullEvent)
      }
    }
  } catch (err) {
    if (controller.signal.aborted) throw new CommandFailedError(`pull of ${ref} stopped: ${(controller.signal.reason as Error)?.message ?? 'aborted'}; run it again to resume from the verified chunks`)
    throw new CommandFailedError(`pull of ${ref} failed: the peer's stream broke (${(err as Error)?.message ?? err}); run it again to resume`)
  } finally {
    clearTimeout(silence)
  }
  if (last?.type === 'error') throw new CommandFailedError(last.message)
  if (last?.type !== 'done') throw new CommandFailedError(`pull of ${ref} ended without a result from the peer at ${flags.api}; run it again to resume`)
}
