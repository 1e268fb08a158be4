import assert from 'node:assert/strict'
import { execFileSync, spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { runCli } from '../helpers/run-cli.js'

// `service install --print` as a user runs it, from a directory with a space in its name and a
// temporary HOME; the printed unit is checked by systemd's own parser where it is installed.
// Nothing is enabled: --print writes nothing, and the no-print case runs only where systemd is
// absent (where it must fail with a clear message).

function systemdAnalyze (): string | undefined {
  const found = spawnSync('sh', ['-c', 'command -v systemd-analyze'], { encoding: 'utf8' })
  return found.status === 0 ? found.stdout.trim() : undefined
}

describe('service install --print (e2e)', function () {
  this.timeout(60_000)
  let dir: string
  let home: string

  before(async function () {
    if (process.platform !== 'linux') {
      process.stdout.write(`      skipped: the systemd unit is checked on Linux; this is ${process.platform}\n`)
      this.skip()
    }
    dir = await mkdtemp(join(tmpdir(), 'harombe service e2e '))
    home = join(dir, 'home dir')
    await mkdir(home)
  })
  after(async () => { if (dir != null) await rm(dir, { recursive: true, force: true }) })

  it('should print a unit systemd accepts, with the token only in the env file (hidden)', async function () {
    const result = await runCli(['service', 'install', '--print', '--name', 'my laptop', '--config', 'cluster.yaml', '--token', 'TOPSECRET', '--api-port', '8001'], {
      cwd: dir, env: { HOME: home, HAROMBE_TOKEN: '' }
    })
    assert.equal(result.code, 0, result.stderr)
    assert.doesNotMatch(result.stdout, /TOPSECRET/)
    const unitPath = join(home, '.config/systemd/user/harombe-peer.service')
    const [header, ...rest] = result.stdout.split('\n')
    assert.equal(header, `# ${unitPath}`)
    const unit = rest.join('\n').split('\n\n# ')[0] ?? ''
    assert.match(unit, /^ExecStart=.* start --name "my laptop" --config ".*harombe service e2e .*\/cluster\.yaml" --api-port 8001$/m)
    assert.match(result.stdout, /HAROMBE_TOKEN=<9 characters, hidden>/)
    assert.equal(existsSync(join(home, '.config')), false, '--print wrote a file')

    const analyze = systemdAnalyze()
    if (analyze == null) {
      process.stdout.write('      skipped the systemd check: systemd-analyze is not installed here\n')
      return
    }
    const file = join(dir, 'harombe-peer.service')
    await writeFile(file, unit)
    // System mode: --user needs a running user manager, which a CI container lacks; the parser is the same.
    const verify = spawnSync(analyze, ['verify', file], { encoding: 'utf8' })
    assert.equal(verify.status, 0, `systemd-analyze verify: ${verify.stderr}`)
    assert.equal(verify.stderr.trim(), '', `systemd-analyze printed warnings: ${verify.stderr}`)
  })

  it('should print the launchd agent with --manager launchd', async () => {
    const result = await runCli(['service', 'install', '--print', '--manager', 'launchd', '--name', 'mac'], { cwd: dir, env: { HOME: home, HAROMBE_TOKEN: '' } })
    assert.equal(result.code, 0, result.stderr)
    assert.match(result.stdout, /<key>ProgramArguments<\/key>/)
    if (spawnSync('sh', ['-c', 'command -v plutil']).status === 0) {
      const file = join(dir, 'agent.plist')
      await writeFile(file, result.stdout.split('\n').slice(1).join('\n'))
      execFileSync('plutil', ['-lint', file])
    }
  })

  it('should stop with a clear message and exit 1 where systemd is not running', async function () {
    if (existsSync('/run/systemd/system')) {
      process.stdout.write('      skipped: systemd runs here, and tests never enable a real unit\n')
      this.skip()
    }
    const result = await runCli(['service', 'install', '--name', 'a'], { cwd: dir, env: { HOME: home } })
    assert.equal(result.code, 1, result.stderr)
    assert.match(result.stderr, /systemd is not running on this machine/)
    assert.equal(existsSync(join(home, '.config')), false)
  })
})
