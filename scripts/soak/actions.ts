// The soak's disturbances, each a logged event: the joiner joining and leaving, kill -9 and
// restart of serve-1, and a model pull through an entry peer. A failed action is logged, never
// thrown: a soak must run to its end and report what went wrong.
import { mkdir, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { SHARED_FILE, type SoakCluster } from './cluster.js'
import { RESTART_AFTER_S } from './schedule.js'

export interface SoakEvent {
  /** Seconds since the run started. */
  t: number
  action: 'join' | 'leave' | 'kill -9' | 'restart' | 'pull' | 'pull failed' | 'join failed' | 'restart failed'
  peer: string
  detail?: string
}

export interface PullTotals { ok: number, failed: number, errors: string[] }

const PULL_TIMEOUT_MS = 60_000
/** How long a kill waits for its victim to be mid-answer before killing it anyway. */
const BUSY_WAIT_MS = 5_000
const HOLDERS_TIMEOUT_MS = 60_000

export function createActions (c: SoakCluster, root: string, clock: () => number, onEvent: (e: SoakEvent) => void): {
  join: () => Promise<void>
  leave: () => Promise<void>
  kill: () => Promise<void>
  pull: (via: string) => Promise<void>
  pulls: PullTotals
  /** kill -9 times per peer, for classifying the requests they cut. */
  kills: Array<{ t: number, peer: string }>
} {
  const ev = (action: SoakEvent['action'], peer: string, detail?: string): void => {
    onEvent({ t: Math.round(clock()) / 1000, action, peer, ...(detail != null ? { detail } : {}) })
  }
  const pulls: PullTotals = { ok: 0, failed: 0, errors: [] }
  const kills: Array<{ t: number, peer: string }> = []
  let joining: Promise<void> = Promise.resolve()
  const restart = async (): Promise<void> => {
    const p = c.byName('serve-1')
    try {
      await c.start(p)
      ev('restart', p.name, `life ${p.lives}`)
    } catch (err: any) {
      ev('restart failed', p.name, String(err?.message ?? err).split('\n')[0])
    }
  }
  let pullCount = 0

  return {
    pulls,
    kills,
    async join () {
      const p = c.byName('joiner')
      if (p.proc != null) return
      joining = (async () => {
        try {
          await c.start(p)
          ev('join', p.name, `life ${p.lives}`)
        } catch (err: any) {
          ev('join failed', p.name, String(err?.message ?? err).split('\n')[0])
        }
      })()
      await joining
    },
    async leave () {
      await joining
      const p = c.byName('joiner')
      const proc = p.proc
      if (proc == null) return
      p.exitExpected = true
      // SIGTERM: the CLI drains its in-flight completions, then leaves the mesh gracefully.
      await proc.stop(15_000)
      p.proc = undefined
      ev('leave', p.name)
    },
    async kill () {
      const p = c.byName('serve-1')
      const proc = p.proc
      if (proc == null) {
        // The last restart failed (or it crashed): try again rather than run on without it.
        await restart()
        return
      }
      // Kill it mid-answer, which is the point: wait (briefly) until it is running a completion.
      await busy(proc.peer.api)
      const t = clock()
      p.exitExpected = true
      await proc.kill()
      p.proc = undefined
      kills.push({ t, peer: p.name })
      ev('kill -9', p.name)
      await new Promise(resolve => setTimeout(resolve, RESTART_AFTER_S * 1000))
      await restart()
    },
    async pull (via) {
      const api = c.byName(via).proc?.peer.api
      if (api == null) return
      const dir = join(root, `pull-${++pullCount}`)
      await mkdir(dir, { recursive: true })
      const started = clock()
      try {
        await waitHolder(api)
        const last = await pullOnce(api, dir)
        if (last?.type !== 'done') throw new Error(`pull ended with ${JSON.stringify(last).slice(0, 200)}`)
        pulls.ok++
        ev('pull', via, `${SHARED_FILE} in ${Math.round(clock() - started)} ms`)
      } catch (err: any) {
        pulls.failed++
        const message = String(err?.message ?? err).split('\n')[0] ?? ''
        if (pulls.errors.length < 20) pulls.errors.push(message)
        ev('pull failed', via, message)
      } finally {
        // Each pull starts from nothing: the file would otherwise be there already.
        await rm(dir, { recursive: true, force: true })
      }
    }
  }
}

/** Until `api` reports a completion running on its backend, at most BUSY_WAIT_MS. */
async function busy (api: string): Promise<void> {
  const deadline = performance.now() + BUSY_WAIT_MS
  while (performance.now() < deadline) {
    try {
      const text = await (await fetch(`${api}/metrics`, { signal: AbortSignal.timeout(2_000) })).text()
      if (Number(/^harombe_local_load\{kind="active"\} (\S+)/m.exec(text)?.[1] ?? 0) > 0) return
    } catch {}
    await new Promise(resolve => setTimeout(resolve, 50))
  }
}

/** The pulling peer must know a holder first (serve-2 hashes its file at start). */
async function waitHolder (api: string): Promise<void> {
  const deadline = performance.now() + HOLDERS_TIMEOUT_MS
  while (performance.now() < deadline) {
    const body = await (await fetch(`${api}/api/models/holders`, { signal: AbortSignal.timeout(5_000) })).json() as { files?: Array<{ name: string, holders: unknown[] }> }
    if ((body.files?.find(f => f.name === SHARED_FILE)?.holders.length ?? 0) > 0) return
    await new Promise(resolve => setTimeout(resolve, 250))
  }
  throw new Error(`no holder of ${SHARED_FILE} seen within ${HOLDERS_TIMEOUT_MS} ms`)
}

/** POST /api/models/pull into `to`; the last NDJSON event. */
async function pullOnce (api: string, to: string): Promise<any> {
  const res = await fetch(`${api}/api/models/pull`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: SHARED_FILE, to }), signal: AbortSignal.timeout(PULL_TIMEOUT_MS) })
  const text = await res.text()
  if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${text.slice(0, 200)}`)
  const lines = text.trim().split('\n')
  return JSON.parse(lines[lines.length - 1] ?? 'null')
}
