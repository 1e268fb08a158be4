import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process'

// Network namespaces for e2e tests that need a real LAN (mDNS multicast) without touching the
// machine's own interfaces. Every interface is created directly inside a test namespace
// (`ip link add … netns …`), so nothing is ever added to, or listens on, the host's network.
//
//   size 2:  [hp-<pid>-<n>-a] hp0 <── veth ──> hp0 [hp-<pid>-<n>-b]
//   size 3+ (or `switched`):
//            [hp-<pid>-<n>-a] hp0 <── veth ──> pa ┐
//            [hp-<pid>-<n>-b] hp0 <── veth ──> pb ┼ br0 [hp-<pid>-<n>-sw]
//            …                                    ┘
//
// Each member gets `<subnet>.<i+1>/24` on hp0, `lo` up, and the multicast route
// `224.0.0.0/4 dev hp0`: without it multicast-dns's sends fail with ENETUNREACH, which it
// swallows silently, so peers simply never find each other (LIBP2P-NOTES pitfall 11).
//
// With a switch, `setLink(member, false)` pulls a member's cable at the switch end: the member's
// own interface, addresses and routes stay as they are, so programs inside keep talking to each
// other while the rest of the LAN silently stops answering — a partition, healed by `setLink(…, true)`.

/** Root of every namespace name this helper creates: `hp-<pid>-<n>-<member>`. */
const NAME_PREFIX = 'hp-'
const NAME_RE = /^hp-(\d+)-/
const IFACE = 'hp0'
/** Unlikely to clash with anything, and isolated inside the namespaces anyway. */
export const DEFAULT_SUBNET = '10.231.87'
const IP_TIMEOUT_MS = 10_000

export interface Namespace {
  /** Namespace name, e.g. `hp-1234-0-a`. */
  name: string
  /** The LAN interface inside the namespace. */
  iface: string
  /** IPv4 address on `iface`, e.g. `10.231.87.1`. */
  address: string
  prefixLength: number
  /** Command prefix that runs a program inside the namespace: `['ip', 'netns', 'exec', name]`. */
  exec: string[]
}

export interface NetnsLan {
  namespaces: Namespace[]
  /** Cuts (`up` false) or restores a member's link at the switch. Needs a switch: size 3+ or `switched`. */
  setLink: (member: Namespace, up: boolean) => Promise<void>
  /** Deletes every namespace (and with them their interfaces). Idempotent. */
  destroy: () => Promise<void>
}

export interface NetnsLanOptions {
  /** Number of member namespaces (default 2; more than 2 are joined by a bridge). */
  size?: number
  /** First three octets of the /24 used on the LAN (default `10.231.87`). */
  subnet?: string
  /** Join even two members through a switch, so `setLink` can partition them. */
  switched?: boolean
}

// Namespaces still present when the test process exits (a crash, mocha's --exit, Ctrl-C, a CI
// runner's SIGTERM) are deleted. A run killed outright (SIGKILL) is swept by the next one
// (`removeStaleNamespaces`).
const created = new Set<string>()
function deleteAllNow (): void {
  for (const name of created) spawnSync('ip', ['netns', 'del', name], { stdio: 'ignore', timeout: 5_000 })
  created.clear()
}
process.once('exit', deleteAllNow)
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.once(signal, () => {
    deleteAllNow()
    // Keep the default (terminate) unless someone else handles the signal.
    if (process.listenerCount(signal) === 0) process.kill(process.pid, signal)
  })
}

let sequence = 0

export class IpCommandError extends Error {
  constructor (readonly args: string[], readonly stderr: string, readonly code: string | number | null) {
    super(`ip ${args.join(' ')}: ${stderr.trim() !== '' ? stderr.trim() : `failed (${String(code)})`}`)
    this.name = 'IpCommandError'
  }
}

/** Runs `ip …`; rejects with an `IpCommandError` carrying ip's own message. */
export async function ip (args: string[]): Promise<string> {
  return await new Promise((resolve, reject) => {
    execFile('ip', args, { timeout: IP_TIMEOUT_MS }, (error, stdout, stderr) => {
      if (error == null) resolve(stdout)
      else reject(new IpCommandError(args, String(stderr), (error as NodeJS.ErrnoException).code ?? null))
    })
  })
}

/**
 * Creates `size` namespaces on one private LAN (see the diagram above). On failure whatever
 * was created is deleted before the error is thrown.
 */
export async function createNetnsLan (options: NetnsLanOptions = {}): Promise<NetnsLan> {
  const size = options.size ?? 2
  const subnet = options.subnet ?? DEFAULT_SUBNET
  if (!Number.isInteger(size) || size < 2 || size > 26) throw new RangeError(`size must be 2..26, got ${size}`)
  if (!/^\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(subnet)) throw new RangeError(`subnet must be three octets like 10.231.87, got ${subnet}`)

  const base = `${NAME_PREFIX}${process.pid}-${sequence++}-`
  const namespaces: Namespace[] = Array.from({ length: size }, (_, i) => {
    const name = base + String.fromCharCode(97 + i)
    return { name, iface: IFACE, address: `${subnet}.${i + 1}`, prefixLength: 24, exec: ['ip', 'netns', 'exec', name] }
  })
  const hub = size > 2 || options.switched === true ? `${base}sw` : undefined
  const portOf = (i: number): string => `p${String.fromCharCode(97 + i)}`
  const all = [...namespaces.map(ns => ns.name), ...(hub != null ? [hub] : [])]

  let destroyed: Promise<void> | undefined
  const destroy = async (): Promise<void> => {
    destroyed ??= Promise.all(all.map(deleteNamespace)).then(() => {})
    await destroyed
  }

  try {
    for (const name of all) {
      await ip(['netns', 'add', name])
      created.add(name)
      await ip(['-n', name, 'link', 'set', 'lo', 'up'])
    }
    const [first, second] = namespaces as [Namespace, Namespace]
    if (hub == null) {
      await ip(['link', 'add', IFACE, 'netns', first.name, 'type', 'veth', 'peer', 'name', IFACE, 'netns', second.name])
    } else {
      await ip(['-n', hub, 'link', 'add', 'br0', 'type', 'bridge', 'mcast_snooping', '0'])
      await ip(['-n', hub, 'link', 'set', 'br0', 'up'])
      for (const [i, ns] of namespaces.entries()) {
        const port = portOf(i)
        await ip(['link', 'add', IFACE, 'netns', ns.name, 'type', 'veth', 'peer', 'name', port, 'netns', hub])
        await ip(['-n', hub, 'link', 'set', port, 'master', 'br0'])
        await ip(['-n', hub, 'link', 'set', port, 'up'])
      }
    }
    for (const ns of namespaces) {
      await ip(['-n', ns.name, 'addr', 'add', `${ns.address}/${ns.prefixLength}`, 'dev', ns.iface])
      await ip(['-n', ns.name, 'link', 'set', 'dev', ns.iface, 'multicast', 'on', 'up'])
      await ip(['-n', ns.name, 'route', 'add', '224.0.0.0/4', 'dev', ns.iface])
    }
  } catch (err) {
    await destroy()
    throw err
  }
  const setLink = async (member: Namespace, up: boolean): Promise<void> => {
    const i = namespaces.indexOf(member)
    if (hub == null || i < 0) throw new Error(`setLink needs a member of a switched LAN (size 3+ or switched: true), got ${member.name}`)
    await ip(['-n', hub, 'link', 'set', portOf(i), up ? 'up' : 'down'])
  }
  return { namespaces, setLink, destroy }
}

async function deleteNamespace (name: string): Promise<void> {
  try {
    await ip(['netns', 'del', name])
  } catch (err) {
    // Already gone is fine; anything else is worth a line but must not fail a cleanup.
    if (!(err instanceof IpCommandError && /No such file|does not exist/i.test(err.stderr))) {
      console.warn(`netns cleanup: ${(err as Error).message}`)
    }
  }
  created.delete(name)
}

let probe: Promise<string | undefined> | undefined

/**
 * Whether this machine lets the tests build a namespace LAN. Resolves `undefined` when it
 * does, otherwise the reason (not Linux, not root, no `ip`, permission denied, no veth…),
 * for a test to print before `this.skip()`. Probes once per process by building (and
 * deleting) a real LAN and running node inside it.
 */
export async function canCreateNamespaces (): Promise<string | undefined> {
  probe ??= runProbe()
  return await probe
}

async function runProbe (): Promise<string | undefined> {
  if (process.platform !== 'linux') return `network namespaces need Linux (this is ${process.platform})`
  const uid = process.getuid?.()
  if (uid !== 0) return `not root (uid ${String(uid)}); creating network namespaces needs root`
  try {
    await ip(['-V'])
  } catch (err) {
    if (err instanceof IpCommandError && err.code === 'ENOENT') return 'no `ip` binary (iproute2) on PATH'
    return `\`ip -V\` failed: ${(err as Error).message}`
  }
  removeStaleNamespaces()
  let lan: NetnsLan | undefined
  try {
    lan = await createNetnsLan({ size: 2 })
    const ns = lan.namespaces[0]!
    await new Promise<void>((resolve, reject) => {
      execFile('ip', ['netns', 'exec', ns.name, process.execPath, '-e', ''], { timeout: IP_TIMEOUT_MS }, (error, _stdout, stderr) => {
        if (error == null) resolve()
        else reject(new Error(`cannot run a program inside a namespace: ${String(stderr).trim() || error.message}`))
      })
    })
    return undefined
  } catch (err) {
    return `cannot create network namespaces here: ${(err as Error).message}`
  } finally {
    await lan?.destroy()
  }
}

/**
 * Deletes namespaces left by earlier runs that were killed before cleaning up: names
 * `hp-<pid>-…` whose pid is no longer running. Namespaces of live processes are kept.
 */
export function removeStaleNamespaces (): void {
  const listed = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8', timeout: IP_TIMEOUT_MS })
  if (listed.status !== 0) return
  for (const line of listed.stdout.split('\n')) {
    const name = line.trim().split(/\s+/)[0] ?? ''
    const pid = Number(NAME_RE.exec(name)?.[1])
    if (!Number.isInteger(pid) || pid === process.pid || isRunning(pid)) continue
    spawnSync('ip', ['netns', 'del', name], { stdio: 'ignore', timeout: IP_TIMEOUT_MS })
  }
}

function isRunning (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

export interface HttpResult<T> {
  status: number
  body: T
}

/** HTTP from inside a namespace (its addresses are not reachable from the host). */
export interface NamespaceFetcher {
  /** GET `url` and parse the body as JSON; rejects on network errors, non-2xx or bad JSON. */
  getJson: <T = unknown>(url: string, timeoutMs?: number) => Promise<HttpResult<T>>
  /** GET `url` and return the body as text with the status (any status). */
  get: (url: string, timeoutMs?: number) => Promise<HttpResult<string>>
  close: () => Promise<void>
}

// One long-lived node process per namespace answers fetch requests as JSON lines, so polling
// costs a request, not a process start. It exits when its stdin closes (test process gone).
const FETCHER_SCRIPT = `
const rl = require('node:readline').createInterface({ input: process.stdin })
const reply = (msg) => process.stdout.write(JSON.stringify(msg) + '\\n')
rl.on('line', async (line) => {
  const { id, url, timeoutMs } = JSON.parse(line)
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) })
    reply({ id, status: res.status, body: await res.text() })
  } catch (err) {
    reply({ id, error: String(err && err.cause ? err.message + ': ' + err.cause.message : err && err.message || err) })
  }
})
rl.on('close', () => process.exit(0))
`

interface Pending {
  resolve: (result: HttpResult<string>) => void
  reject: (err: Error) => void
  timer: NodeJS.Timeout
}

/** Starts a fetcher inside namespace `name`. Close it when done. */
export function openNamespaceFetcher (name: string): NamespaceFetcher {
  const child: ChildProcess = spawn('ip', ['netns', 'exec', name, process.execPath, '-e', FETCHER_SCRIPT], {
    stdio: ['pipe', 'pipe', 'pipe']
  })
  const pending = new Map<number, Pending>()
  let nextId = 0
  let stderr = ''
  let buffered = ''
  let gone: Error | undefined

  const failAll = (err: Error): void => {
    gone ??= err
    for (const [id, p] of pending) {
      clearTimeout(p.timer)
      pending.delete(id)
      p.reject(err)
    }
  }
  child.stderr?.setEncoding('utf8')
  child.stderr?.on('data', (chunk: string) => { stderr = (stderr + chunk).slice(-8192) })
  child.stdout?.setEncoding('utf8')
  child.stdout?.on('data', (chunk: string) => {
    const lines = (buffered + chunk).split('\n')
    buffered = lines.pop() ?? ''
    for (const line of lines) {
      if (line.trim() === '') continue
      const msg = JSON.parse(line) as { id: number, status?: number, body?: string, error?: string }
      const p = pending.get(msg.id)
      if (p == null) continue
      pending.delete(msg.id)
      clearTimeout(p.timer)
      if (msg.error != null) p.reject(new Error(msg.error))
      else p.resolve({ status: msg.status ?? 0, body: msg.body ?? '' })
    }
  })
  const exited = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      failAll(new Error(`fetcher in ${name} exited (code ${code}, signal ${signal}) ${stderr.trim()}`))
      resolve()
    })
    child.once('error', (err) => {
      failAll(new Error(`fetcher in ${name} could not start: ${err.message}`))
      resolve()
    })
  })
  child.stdin?.on('error', () => {}) // EPIPE after an early exit surfaces through 'exit'

  const get = async (url: string, timeoutMs = 2_000): Promise<HttpResult<string>> => {
    if (gone != null) throw gone
    const id = nextId++
    return await new Promise((resolve, reject) => {
      // The fetcher aborts at timeoutMs itself; this backstop covers a stuck fetcher process.
      const timer = setTimeout(() => {
        pending.delete(id)
        reject(new Error(`GET ${url} from ${name}: no answer within ${timeoutMs + 2_000} ms`))
      }, timeoutMs + 2_000)
      pending.set(id, { resolve, reject, timer })
      child.stdin?.write(JSON.stringify({ id, url, timeoutMs }) + '\n')
    })
  }

  const getJson = async <T>(url: string, timeoutMs?: number): Promise<HttpResult<T>> => {
    const res = await get(url, timeoutMs)
    if (res.status < 200 || res.status >= 300) throw new Error(`GET ${url}: HTTP ${res.status} ${res.body.slice(0, 200)}`)
    return { status: res.status, body: JSON.parse(res.body) as T }
  }

  const close = async (): Promise<void> => {
    if (child.exitCode == null && child.signalCode == null) {
      child.stdin?.end()
      const timer = setTimeout(() => { child.kill('SIGKILL') }, 2_000)
      await exited
      clearTimeout(timer)
    }
  }

  return { get, getJson, close }
}
