import { isAbsolute, join, resolve } from 'node:path'
import { PEER_NODE_FLAGS } from './node-flags.js'

// `harombe-peer service`: the text of a systemd user unit and of a launchd agent, and the
// environment file that keeps secrets out of both. Pure: paths, arguments and secrets in, text
// out, so every quoting rule has a table test and nothing here touches the machine.

export type ServiceManager = 'systemd' | 'launchd'

/** The unit's name in systemd, and the stem of the launchd plist and its label. */
export const SYSTEMD_UNIT_NAME = 'harombe-peer.service'
export const LAUNCHD_LABEL = 'dev.harombe.peer'

/** Start flags whose value is a secret: they go to the environment file as these variables. */
export const SECRET_FLAGS: Readonly<Record<string, string>> = {
  '--token': 'HAROMBE_TOKEN',
  '--backend-key': 'HAROMBE_BACKEND_KEY'
}

/**
 * Start flags whose value is a path: made absolute at install time, because the service runs
 * from the home directory, not from where the user typed the command.
 */
export const PATH_FLAGS: readonly string[] = ['--config', '--mesh-key', '--data-dir', '--model-file', '--models-dir', '--share-dir']

export interface ServicePaths {
  /** Where the unit or plist is written. */
  file: string
  /** The user-only environment file with the secrets. */
  envFile: string
  /** launchd only: where stdout and stderr go (systemd keeps them in the journal). */
  logFile?: string
}

export function servicePaths (manager: ServiceManager, home: string): ServicePaths {
  const envFile = join(home, '.config', 'harombe-peer', 'service.env')
  return manager === 'systemd'
    ? { file: join(home, '.config', 'systemd', 'user', SYSTEMD_UNIT_NAME), envFile }
    : { file: join(home, 'Library', 'LaunchAgents', `${LAUNCHD_LABEL}.plist`), envFile, logFile: join(home, 'Library', 'Logs', 'harombe-peer', 'peer.log') }
}

export interface ServiceSpec {
  /** Absolute path of the node binary that runs the peer. */
  node: string
  /** Absolute path of bin/harombe-peer.js. */
  cli: string
  /** `start` and its options, secrets already removed. */
  args: readonly string[]
  home: string
  paths: ServicePaths
}

export interface SplitArgs {
  /** The arguments with every secret flag and its value removed. */
  args: string[]
  /** Variable name → value, for the environment file. */
  secrets: Record<string, string>
}

/**
 * Takes `--token x`, `--token=x`, `--backend-key x` out of the start options (they would be
 * readable by every user in the unit and in `ps`), plus HAROMBE_TOKEN / HAROMBE_BACKEND_KEY
 * from the installing shell when no flag gave them, so the service sees what `start` would.
 * A secret flag without a value is an error that names it.
 */
export function splitSecrets (args: readonly string[], env: Readonly<Record<string, string | undefined>>): SplitArgs {
  const out: string[] = []
  const secrets: Record<string, string> = {}
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] ?? ''
    const eq = arg.indexOf('=')
    const flag = arg.startsWith('--') && eq > 0 ? arg.slice(0, eq) : arg
    const variable = SECRET_FLAGS[flag]
    if (variable == null) {
      out.push(arg)
      continue
    }
    let value: string | undefined
    if (eq > 0 && flag !== arg) value = arg.slice(eq + 1)
    else {
      value = args[i + 1]
      i++
    }
    if (value == null || value === '' || (flag === arg && value.startsWith('--'))) throw new ServiceArgsError(`${flag} needs a value`)
    secrets[variable] = value
  }
  for (const variable of Object.values(SECRET_FLAGS)) {
    const value = env[variable]
    if (secrets[variable] == null && value != null && value !== '') secrets[variable] = value
  }
  return { args: out, secrets }
}

/** `--config cluster.yaml` → `--config /where/it/was/typed/cluster.yaml` (both `--f v` and `--f=v`). */
export function absolutizePaths (args: readonly string[], cwd: string): string[] {
  const out: string[] = []
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] ?? ''
    const eq = arg.indexOf('=')
    if (arg.startsWith('--') && eq > 0 && PATH_FLAGS.includes(arg.slice(0, eq))) {
      out.push(`${arg.slice(0, eq)}=${absolute(arg.slice(eq + 1), cwd)}`)
    } else if (PATH_FLAGS.includes(arg) && i + 1 < args.length) {
      out.push(arg, absolute(args[i + 1] ?? '', cwd))
      i++
    } else {
      out.push(arg)
    }
  }
  return out
}

function absolute (path: string, cwd: string): string {
  return path === '' || isAbsolute(path) ? path : resolve(cwd, path)
}

/** A service option that cannot be written (a secret without a value, a value no file can hold). */
export class ServiceArgsError extends Error {
  static name = 'ServiceArgsError'
  name = ServiceArgsError.name
}

/**
 * One word of a systemd command line (systemd.service "Command lines"): double-quoted when it
 * holds anything beyond plain characters, `\` and `"` escaped inside quotes; `%` is a specifier
 * and `$` an environment expansion everywhere, so they are doubled to stay literal.
 */
export function systemdWord (word: string): string {
  if (/[\n\r\0]/.test(word)) throw new ServiceArgsError(`a service argument cannot contain a line break: ${JSON.stringify(word)}`)
  const literal = word.replaceAll('%', '%%').replaceAll('$', '$$$$')
  if (word !== '' && /^[A-Za-z0-9_@+=:,./%$-]+$/.test(word)) return literal
  return `"${literal.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`
}

/** A path as the value of a unit setting (WorkingDirectory=, EnvironmentFile=): the whole rest of the line, `%` doubled. */
function systemdPath (path: string): string {
  if (/[\n\r\0]/.test(path)) throw new ServiceArgsError(`a path cannot contain a line break: ${JSON.stringify(path)}`)
  return path.replaceAll('%', '%%')
}

/** Graceful stop is a drain (default 10 s) plus leave and libp2p stop (~4.5 s): give it room before SIGKILL. */
const STOP_TIMEOUT_S = 30
/** A peer that fails at once (bad option, port taken) should not spin: wait this long between tries. */
const RESTART_DELAY_S = 5

export function renderSystemdUnit (spec: ServiceSpec): string {
  const command = [spec.node, ...PEER_NODE_FLAGS, spec.cli, ...spec.args].map(systemdWord).join(' ')
  return `# Written by \`harombe-peer service install\`; \`harombe-peer service uninstall\` removes it.
# Logs: journalctl --user -u harombe-peer -f
[Unit]
Description=harombe-peer: LLM mesh peer

[Service]
Type=simple
ExecStart=${command}
# Secrets (HAROMBE_TOKEN, HAROMBE_BACKEND_KEY) live here, readable only by you; '-': it may be absent.
EnvironmentFile=-${systemdPath(spec.paths.envFile)}
WorkingDirectory=${systemdPath(spec.home)}
Restart=on-failure
RestartSec=${RESTART_DELAY_S}
KillSignal=SIGTERM
TimeoutStopSec=${STOP_TIMEOUT_S}

[Install]
WantedBy=default.target
`
}

function xml (text: string): string {
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/.test(text)) throw new ServiceArgsError(`a service argument cannot contain control characters: ${JSON.stringify(text)}`)
  return text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&quot;').replaceAll("'", '&apos;')
}

/**
 * A launchd agent. launchd has no environment file, so node itself loads it (`--env-file`, Node
 * 20.6+). KeepAlive with SuccessfulExit false restarts a peer that failed, not one that was stopped.
 */
export function renderLaunchdPlist (spec: ServiceSpec, withEnvFile: boolean): string {
  const argv = [spec.node, ...PEER_NODE_FLAGS, ...(withEnvFile ? [`--env-file=${spec.paths.envFile}`] : []), spec.cli, ...spec.args]
  const log = spec.paths.logFile ?? join(spec.home, 'Library', 'Logs', 'harombe-peer', 'peer.log')
  return `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<!-- Written by \`harombe-peer service install\`; \`harombe-peer service uninstall\` removes it. -->
<plist version="1.0">
<dict>
  <key>Label</key>
  <string>${LAUNCHD_LABEL}</string>
  <key>ProgramArguments</key>
  <array>
${argv.map(a => `    <string>${xml(a)}</string>`).join('\n')}
  </array>
  <key>WorkingDirectory</key>
  <string>${xml(spec.home)}</string>
  <key>RunAtLoad</key>
  <true/>
  <key>KeepAlive</key>
  <dict>
    <key>SuccessfulExit</key>
    <false/>
  </dict>
  <key>ThrottleInterval</key>
  <integer>${RESTART_DELAY_S}</integer>
  <key>ExitTimeOut</key>
  <integer>${STOP_TIMEOUT_S}</integer>
  <key>StandardOutPath</key>
  <string>${xml(log)}</string>
  <key>StandardErrorPath</key>
  <string>${xml(log)}</string>
</dict>
</plist>
`
}

/**
 * `KEY=value` lines that both systemd's EnvironmentFile= and node's --env-file read the same way:
 * plain values bare, others in single quotes (literal in both). A value with a single quote and
 * other specials, or a line break, cannot be written for both: an error naming the variable.
 */
export function renderEnvFile (secrets: Readonly<Record<string, string>>, redact = false): string {
  const lines = ['# harombe-peer service secrets; mode 0600 (only you can read it).']
  for (const [name, value] of Object.entries(secrets)) {
    if (redact) {
      lines.push(`${name}=<${value.length} characters, hidden>`)
      continue
    }
    if (/^[A-Za-z0-9_.:/+=@,-]*$/.test(value)) lines.push(`${name}=${value}`)
    else if (!/['\n\r\0]/.test(value)) lines.push(`${name}='${value}'`)
    else throw new ServiceArgsError(`${name}: a value with a single quote or a line break cannot go in the environment file`)
  }
  return lines.join('\n') + '\n'
}

export type ManagerChoice = { ok: true, manager: ServiceManager } | { ok: false, reason: string }

export interface ManagerProbe {
  platform: NodeJS.Platform
  /** /run/systemd/system exists: the machine was booted with systemd (sd_booted's test). */
  systemdBooted: boolean
  /** launchctl is on this machine. */
  hasLaunchctl: boolean
}

/** Which service manager can run the peer here, or why none can (a container, another OS). */
export function chooseManager (probe: ManagerProbe): ManagerChoice {
  if (probe.platform === 'linux') {
    return probe.systemdBooted
      ? { ok: true, manager: 'systemd' }
      : { ok: false, reason: 'systemd is not running on this machine (no /run/systemd/system; a container?), so there is no service manager to run the peer at boot. Run `harombe-peer start` under your own supervisor (e.g. the container\'s restart policy) instead.' }
  }
  if (probe.platform === 'darwin') {
    return probe.hasLaunchctl
      ? { ok: true, manager: 'launchd' }
      : { ok: false, reason: 'launchctl was not found, so launchd cannot run the peer at boot.' }
  }
  return { ok: false, reason: `no supported service manager on ${probe.platform}: \`service\` writes a systemd user unit (Linux) or a launchd agent (macOS).` }
}

/** The manager whose file `--print` shows: the one this OS uses, even where it is not running. */
export function managerForPlatform (platform: NodeJS.Platform): ServiceManager | undefined {
  return platform === 'linux' ? 'systemd' : platform === 'darwin' ? 'launchd' : undefined
}
