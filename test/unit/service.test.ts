import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { runServiceInstall, runServiceStatus, runServiceUninstall, type CommandResult, type ServiceEnv } from '../../src/cli/service.js'

// install / uninstall / status against a temporary HOME and a runner that records what it would
// ask systemctl and launchctl: nothing is enabled on this machine.

describe('service install / uninstall / status', () => {
  let home: string
  let calls: string[][]
  let out: string
  let answers: Map<string, CommandResult>

  beforeEach(async () => {
    home = await mkdtemp(join(tmpdir(), 'harombe service home '))
    calls = []
    out = ''
    answers = new Map()
  })
  afterEach(async () => { await rm(home, { recursive: true, force: true }) })

  const env = (platform: NodeJS.Platform, booted = true): ServiceEnv => ({
    home,
    cwd: '/work dir',
    platform,
    env: { USER: 'u' },
    uid: 501,
    node: '/usr/bin/node',
    cli: '/opt/harombe-peer/bin/harombe-peer.js',
    probe: () => ({ platform, systemdBooted: booted, hasLaunchctl: platform === 'darwin' }),
    run: async (command, args) => {
      calls.push([command, ...args])
      return answers.get(args.join(' ')) ?? { code: 0, stdout: '', stderr: '' }
    },
    out: text => { out += text },
    err: () => {}
  })

  it('should write the unit, keep the token in a 0600 env file, and enable and restart it', async () => {
    const code = await runServiceInstall(['--name', 'a b', '--token', 'TOPSECRET', '--config', 'c.yaml'], {}, env('linux'))
    assert.equal(code, 0)
    const unitFile = join(home, '.config/systemd/user/harombe-peer.service')
    const envFile = join(home, '.config/harombe-peer/service.env')
    const unit = await readFile(unitFile, 'utf8')
    assert.doesNotMatch(unit, /TOPSECRET/)
    assert.match(unit, /--name "a b" --config "\/work dir\/c\.yaml"/)
    assert.equal((await stat(envFile)).mode & 0o777, 0o600)
    assert.match(await readFile(envFile, 'utf8'), /^HAROMBE_TOKEN=TOPSECRET$/m)
    assert.deepEqual(calls, [
      ['systemctl', '--user', 'daemon-reload'],
      ['systemctl', '--user', 'enable', 'harombe-peer.service'],
      ['systemctl', '--user', 'restart', 'harombe-peer.service']
    ])
    assert.match(out, /journalctl --user -u harombe-peer/)
  })

  it('should remove a stale env file when reinstalled without secrets', async () => {
    await runServiceInstall(['--token', 'x'], {}, env('linux'))
    await runServiceInstall([], {}, env('linux'))
    assert.equal(existsSync(join(home, '.config/harombe-peer/service.env')), false)
  })

  it('should write nothing and run nothing with --print', async () => {
    const code = await runServiceInstall(['--token', 'TOPSECRET'], { print: true }, env('linux'))
    assert.equal(code, 0)
    assert.deepEqual(calls, [])
    assert.equal(existsSync(join(home, '.config')), false)
    assert.doesNotMatch(out, /TOPSECRET/)
    assert.match(out, /HAROMBE_TOKEN=<9 characters, hidden>/)
  })

  it('should stop with a clear message in a container (no systemd)', async () => {
    await assert.rejects(runServiceInstall([], {}, env('linux', false)), /systemd is not running/)
    await assert.rejects(runServiceStatus(env('linux', false)), /systemd is not running/)
    assert.deepEqual(calls, [])
  })

  it('should report a systemctl failure with its reason', async () => {
    answers.set('--user daemon-reload', { code: 1, stdout: '', stderr: 'Failed to connect to bus: No medium found' })
    await assert.rejects(runServiceInstall([], {}, env('linux')), /systemctl --user daemon-reload failed: Failed to connect to bus.*enable-linger/)
  })

  it('should load a launchd agent, reloading one already there', async () => {
    const code = await runServiceInstall(['--name', 'mac'], {}, env('darwin'))
    assert.equal(code, 0)
    const plist = join(home, 'Library/LaunchAgents/dev.harombe.peer.plist')
    assert.ok(existsSync(plist))
    assert.ok(existsSync(join(home, 'Library/Logs/harombe-peer')))
    assert.deepEqual(calls, [['launchctl', 'bootout', 'gui/501/dev.harombe.peer'], ['launchctl', 'bootstrap', 'gui/501', plist]])
  })

  it('should say not installed (exit 1) and uninstall everything it wrote', async () => {
    assert.equal(await runServiceStatus(env('linux')), 1)
    assert.match(out, /not installed/)
    await runServiceInstall(['--token', 'x'], {}, env('linux'))
    answers.set('--user status --no-pager --lines=10 harombe-peer.service', { code: 0, stdout: 'Active: active (running)\n', stderr: '' })
    assert.equal(await runServiceStatus(env('linux')), 0)
    calls = []
    assert.equal(await runServiceUninstall(env('linux')), 0)
    assert.deepEqual(calls, [['systemctl', '--user', 'disable', '--now', 'harombe-peer.service'], ['systemctl', '--user', 'daemon-reload']])
    assert.equal(existsSync(join(home, '.config/systemd/user/harombe-peer.service')), false)
    assert.equal(existsSync(join(home, '.config/harombe-peer/service.env')), false)
  })
})
