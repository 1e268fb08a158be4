import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { chmod, mkdir, rm, writeFile } from 'node:fs/promises'
import { homedir } from 'node:os'
import { dirname, join } from 'node:path'
import { PACKAGE_ROOT } from '../version.js'
import { CommandFailedError, EXIT_FAILED, EXIT_OK, UsageError } from './errors.js'
import {
  absolutizePaths, chooseManager, LAUNCHD_LABEL, managerForPlatform, renderEnvFile, renderLaunchdPlist, renderSystemdUnit,
  ServiceArgsError, servicePaths, splitSecrets, SYSTEMD_UNIT_NAME, type ManagerProbe, type ServiceManager, type ServiceSpec
} from './service-files.js'

// `harombe-peer service install | uninstall | status`: writes the files service-files.ts renders
// and asks systemctl or launchctl to run them. Everything that touches the machine comes in
// through ServiceEnv, so tests run it against a temporary HOME and a recording runner.

export interface CommandResult { code: number, stdout: string, stderr: string }
export type RunCommand = (command: string, args: string[], signal: AbortSignal) => Promise<CommandResult>

export interface ServiceEnv {
  home: string
  cwd: string
  platform: NodeJS.Platform
  env: NodeJS.ProcessEnv
  uid: number
  node: string
  cli: string
  probe: () => ManagerProbe
  run: RunCommand
  out: (text: string) => void
  err: (text: string) => void
}

export interface InstallOptions {
  print?: boolean
  /** Hidden: which file `--print` renders (default: this OS's manager). */
  manager?: ServiceManager
}

/** systemctl and launchctl answer in well under a second; a hung bus must not hang the command. */
const COMMAND_TIMEOUT_MS = 20_000

export function defaultServiceEnv (): ServiceEnv {
  return {
    home: process.env.HOME ?? homedir(),
    cwd: process.cwd(),
    platform: process.platform,
    env: process.env,
    uid: process.getuid?.() ?? 0,
    node: process.execPath,
    cli: join(PACKAGE_ROOT, 'bin', 'harombe-peer.js'),
    probe: () => ({ platform: process.platform, systemdBooted: existsSync('/run/systemd/system'), hasLaunchctl: existsSync('/bin/launchctl') }),
    run: runCommand,
    out: text => { process.stdout.write(text) },
    err: text => { process.stderr.write(text) }
  }
}

async function runCommand (command: string, args: string[], signal: AbortSignal): Promise<CommandResult> {
  return await new Promise(resolve => {
    execFile(command, args, { signal: AbortSignal.any([signal, AbortSignal.timeout(COMMAND_TIMEOUT_MS)]), encoding: 'utf8' }, (error, stdout, stderr) => {
      const code = error == null ? 0 : typeof (error as { code?: unknown }).code === 'number' ? (error as { code: number }).code : 127
      resolve({ code, stdout, stderr: stderr !== '' ? stderr : (error?.message ?? '') })
    })
  })
}

function managerOrFail (env: ServiceEnv): ServiceManager {
  const choice = chooseManager(env.probe())
  if (!choice.ok) throw new CommandFailedError(choice.reason)
  return choice.manager
}

export async function runServiceInstall (startArgs: string[], options: InstallOptions, env: ServiceEnv = defaultServiceEnv(), signal = new AbortController().signal): Promise<number> {
  if (startArgs[0] === 'start') startArgs = startArgs.slice(1)
  let manager: ServiceManager
  if (options.print === true) {
    const forPlatform = options.manager ?? managerForPlatform(env.platform)
    if (forPlatform == null) throw new CommandFailedError(`no supported service manager on ${env.platform}: \`service\` writes a systemd user unit (Linux) or a launchd agent (macOS).`)
    manager = forPlatform
  } else {
    manager = managerOrFail(env)
  }

  let split
  try {
    split = splitSecrets(absolutizePaths(startArgs, env.cwd), env.env)
  } catch (err) {
    if (err instanceof ServiceArgsError) throw new UsageError(err.message)
    throw err
  }
  const paths = servicePaths(manager, env.home)
  const spec: ServiceSpec = { node: env.node, cli: env.cli, args: ['start', ...split.args], home: env.home, paths }
  const hasSecrets = Object.keys(split.secrets).length > 0
  let text: string
  let envText: string
  try {
    text = manager === 'systemd' ? renderSystemdUnit(spec) : renderLaunchdPlist(spec, hasSecrets)
    envText = renderEnvFile(split.secrets)
  } catch (err) {
    if (err instanceof ServiceArgsError) throw new UsageError(err.message)
    throw err
  }
  if (env.cli.includes('/_npx/')) {
    env.err(`warning: the CLI runs from npx's cache (${env.cli}), which npm may clear; install it for good first (npm install -g harombe-peer) and run \`service install\` from there.\n`)
  }

  if (options.print === true) {
    env.out(`# ${paths.file}\n${text}`)
    if (hasSecrets) env.out(`\n# ${paths.envFile} (mode 0600, values hidden here)\n${renderEnvFile(split.secrets, true)}`)
    if (options.manager == null && !chooseManager(env.probe()).ok) {
      env.err(`note: ${manager} is not running here; \`service install\` without --print would stop with an error.\n`)
    }
    return EXIT_OK
  }

  await mkdir(dirname(paths.file), { recursive: true })
  await writeFile(paths.file, text, { mode: 0o644 })
  if (hasSecrets) await writeSecrets(paths.envFile, envText)
  else await rm(paths.envFile, { force: true })

  if (manager === 'systemd') {
    await systemctl(env, ['daemon-reload'], signal)
    await systemctl(env, ['enable', SYSTEMD_UNIT_NAME], signal)
    // restart, not start: a reinstall with new options must take effect
    await systemctl(env, ['restart', SYSTEMD_UNIT_NAME], signal)
    env.out(`installed ${paths.file}${hasSecrets ? ` (secrets in ${paths.envFile}, mode 0600)` : ''}; started.
Logs:    journalctl --user -u harombe-peer -f
Status:  harombe-peer service status
At boot without logging in first: loginctl enable-linger ${env.env.USER ?? '$USER'}
`)
  } else {
    if (paths.logFile != null) await mkdir(dirname(paths.logFile), { recursive: true })
    const domain = `gui/${env.uid}`
    // An agent already loaded keeps its old options until it is booted out
    await env.run('launchctl', ['bootout', `${domain}/${LAUNCHD_LABEL}`], signal)
    const loaded = await env.run('launchctl', ['bootstrap', domain, paths.file], signal)
    if (loaded.code !== 0) throw new CommandFailedError(`launchctl bootstrap ${domain} ${paths.file} failed: ${loaded.stderr.trim()}`)
    env.out(`installed ${paths.file}${hasSecrets ? ` (secrets in ${paths.envFile}, mode 0600)` : ''}; started.
Logs:    ${paths.logFile ?? ''}
Status:  harombe-peer service status
`)
  }
  return EXIT_OK
}

/** The file is created empty at 0600 before the secret is written, so it is never readable by others, even briefly. */
async function writeSecrets (file: string, text: string): Promise<void> {
  await mkdir(dirname(file), { recursive: true, mode: 0o700 })
  await writeFile(file, '', { mode: 0o600 })
  await chmod(file, 0o600)
  await writeFile(file, text)
}

async function systemctl (env: ServiceEnv, args: string[], signal: AbortSignal): Promise<void> {
  const result = await env.run('systemctl', ['--user', ...args], signal)
  if (result.code === 0) return
  const reason = result.stderr.trim()
  const hint = /bus|XDG_RUNTIME_DIR/i.test(reason) ? ' (no user session manager: log in to a session, or run `loginctl enable-linger $USER` as an administrator, then retry)' : ''
  throw new CommandFailedError(`systemctl --user ${args.join(' ')} failed: ${reason}${hint}`)
}

export async function runServiceUninstall (env: ServiceEnv = defaultServiceEnv(), signal = new AbortController().signal): Promise<number> {
  const manager = managerOrFail(env)
  const paths = servicePaths(manager, env.home)
  if (!existsSync(paths.file)) {
    await rm(paths.envFile, { force: true })
    env.out(`not installed (no ${paths.file}); nothing to remove.\n`)
    return EXIT_OK
  }
  if (manager === 'systemd') {
    // Stopping fails when the unit is already gone from the manager; the files go either way.
    await env.run('systemctl', ['--user', 'disable', '--now', SYSTEMD_UNIT_NAME], signal)
  } else {
    await env.run('launchctl', ['bootout', `gui/${env.uid}/${LAUNCHD_LABEL}`], signal)
  }
  await rm(paths.file, { force: true })
  await rm(paths.envFile, { force: true })
  if (manager === 'systemd') await systemctl(env, ['daemon-reload'], signal)
  env.out(`stopped and removed ${paths.file}\n`)
  return EXIT_OK
}

/** Exit 0 when the service is installed and running, 1 otherwise (like `status`). */
export async function runServiceStatus (env: ServiceEnv = defaultServiceEnv(), signal = new AbortController().signal): Promise<number> {
  const manager = managerOrFail(env)
  const paths = servicePaths(manager, env.home)
  if (!existsSync(paths.file)) {
    env.out(`not installed (no ${paths.file}); \`harombe-peer service install [start options…]\` installs it.\n`)
    return EXIT_FAILED
  }
  if (manager === 'systemd') {
    const result = await env.run('systemctl', ['--user', 'status', '--no-pager', '--lines=10', SYSTEMD_UNIT_NAME], signal)
    env.out(`${paths.file}\n${result.stdout}`)
    if (result.stderr.trim() !== '') env.err(result.stderr)
    env.out('Logs: journalctl --user -u harombe-peer -f\n')
    return result.code === 0 ? EXIT_OK : EXIT_FAILED
  }
  const result = await env.run('launchctl', ['print', `gui/${env.uid}/${LAUNCHD_LABEL}`], signal)
  const state = /^\s*state = (\S+)/m.exec(result.stdout)?.[1] ?? (result.code === 0 ? 'unknown' : 'not loaded')
  env.out(`${paths.file}\nstate: ${state}\nLogs: ${paths.logFile ?? ''}\n`)
  return state === 'running' ? EXIT_OK : EXIT_FAILED
}
