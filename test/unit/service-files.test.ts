import { readFileSync } from 'node:fs'
import { PEER_NODE_FLAGS } from '../../src/cli/node-flags.js'
import assert from 'node:assert/strict'
import {
  absolutizePaths, chooseManager, renderEnvFile, renderLaunchdPlist, renderSystemdUnit, servicePaths, splitSecrets, systemdWord,
  type ServiceSpec
} from '../../src/cli/service-files.js'

/** systemd's own splitting of a command line (the subset the writer emits), to check the round trip. */
function systemdSplit (line: string): string[] {
  const words: string[] = []
  let i = 0
  while (i < line.length) {
    while (line[i] === ' ') i++
    if (i >= line.length) break
    let word = ''
    if (line[i] === '"') {
      i++
      while (line[i] !== '"') {
        if (i >= line.length) throw new Error('unbalanced quote')
        if (line[i] === '\\') i++
        word += line[i]
        i++
      }
      i++
    } else {
      while (i < line.length && line[i] !== ' ') word += line[i++]
    }
    words.push(word.replaceAll('%%', '%').replaceAll('$$', '$'))
  }
  return words
}

describe('service files', () => {
  describe('systemdWord', () => {
    const cases: Array<[string, string]> = [
      ['plain', 'plain'],
      ['/usr/bin/node', '/usr/bin/node'],
      ['--api-port', '--api-port'],
      ['/ip4/0.0.0.0/tcp/4700', '/ip4/0.0.0.0/tcp/4700'],
      ['my laptop', '"my laptop"'],
      ['/home/a b/bin/harombe-peer.js', '"/home/a b/bin/harombe-peer.js"'],
      ['100%', '100%%'],
      ['$HOME', '$$HOME'],
      ['say "hi"', '"say \\"hi\\""'],
      ['back\\slash', '"back\\\\slash"'],
      ["it's", '"it\'s"'],
      ['', '""'],
      ['a;b', '"a;b"']
    ]
    for (const [input, expected] of cases) {
      it(`should write ${JSON.stringify(input)} as ${expected}`, () => {
        assert.equal(systemdWord(input), expected)
        assert.deepEqual(systemdSplit(systemdWord(input)), [input])
      })
    }
    it('should refuse a line break, which would end the setting', () => {
      assert.throws(() => systemdWord('a\nExecStartPre=/bin/rm'), /line break/)
    })
  })

  describe('splitSecrets', () => {
    const cases: Array<{ name: string, args: string[], env?: Record<string, string>, out: string[], secrets: Record<string, string> }> = [
      { name: 'no secrets', args: ['--name', 'a'], out: ['--name', 'a'], secrets: {} },
      { name: '--token value', args: ['--name', 'a', '--token', 's3cret', '--tier', '1'], out: ['--name', 'a', '--tier', '1'], secrets: { HAROMBE_TOKEN: 's3cret' } },
      { name: '--token=value', args: ['--token=s3=cret'], out: [], secrets: { HAROMBE_TOKEN: 's3=cret' } },
      { name: '--backend-key', args: ['--backend', 'openai', '--backend-key', 'sk-1'], out: ['--backend', 'openai'], secrets: { HAROMBE_BACKEND_KEY: 'sk-1' } },
      { name: 'env token when no flag', args: [], env: { HAROMBE_TOKEN: 'from-env' }, out: [], secrets: { HAROMBE_TOKEN: 'from-env' } },
      { name: 'flag wins over env', args: ['--token', 'flag'], env: { HAROMBE_TOKEN: 'env' }, out: [], secrets: { HAROMBE_TOKEN: 'flag' } },
      { name: 'empty env ignored', args: [], env: { HAROMBE_TOKEN: '' }, out: [], secrets: {} }
    ]
    for (const c of cases) {
      it(`should split ${c.name}`, () => {
        const split = splitSecrets(c.args, c.env ?? {})
        assert.deepEqual(split.args, c.out)
        assert.deepEqual(split.secrets, c.secrets)
      })
    }
    for (const args of [['--token'], ['--token', '--name', 'a'], ['--backend-key=']]) {
      it(`should name the flag without a value in ${args.join(' ')}`, () => {
        assert.throws(() => splitSecrets(args, {}), /--(token|backend-key) needs a value/)
      })
    }
  })

  describe('absolutizePaths', () => {
    const cases: Array<[string[], string[]]> = [
      [['--config', 'cluster.yaml'], ['--config', '/w d/cluster.yaml']],
      [['--config=sub/c.yaml'], ['--config=/w d/sub/c.yaml']],
      [['--mesh-key', '/etc/k'], ['--mesh-key', '/etc/k']],
      [['--data-dir', '../data', '--share-dir', 'm'], ['--data-dir', '/data', '--share-dir', '/w d/m']],
      [['--name', 'cluster.yaml'], ['--name', 'cluster.yaml']]
    ]
    for (const [input, expected] of cases) {
      it(`should make ${input.join(' ')} absolute`, () => {
        assert.deepEqual(absolutizePaths(input, '/w d'), expected)
      })
    }
  })

  const spec = (home: string, args: string[], manager: 'systemd' | 'launchd' = 'systemd'): ServiceSpec => ({
    node: '/opt/node 20/bin/node', cli: `${home}/harombe peer/bin/harombe-peer.js`, args, home, paths: servicePaths(manager, home)
  })

  describe('node flags of a long-running peer', () => {
    it('should be the same in npm start as in the service files', () => {
      const start = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { scripts: Record<string, string> }).scripts.start ?? ''
      assert.equal(start, `node ${PEER_NODE_FLAGS.join(' ')} bin/harombe-peer.js start`)
    })
  })

  describe('renderSystemdUnit', () => {
    it('should put every argument, with spaces and specials, back as systemd will split it', () => {
      const args = ['start', '--name', 'my laptop', '--config', '/home/a b/c%1.yaml', '--model', 'qwen2.5:3b', '--api-host', '0.0.0.0']
      const unit = renderSystemdUnit(spec('/home/a b', args))
      const exec = /^ExecStart=(.*)$/m.exec(unit)?.[1]
      assert.ok(exec != null, unit)
      assert.deepEqual(systemdSplit(exec), ['/opt/node 20/bin/node', ...PEER_NODE_FLAGS, '/home/a b/harombe peer/bin/harombe-peer.js', ...args])
      assert.match(unit, /^Restart=on-failure$/m)
      assert.match(unit, /^EnvironmentFile=-\/home\/a b\/\.config\/harombe-peer\/service\.env$/m)
      assert.match(unit, /^WantedBy=default\.target$/m)
    })
    it('should double % in paths of settings (a specifier otherwise)', () => {
      assert.match(renderSystemdUnit(spec('/home/100%', ['start'])), /^WorkingDirectory=\/home\/100%%$/m)
    })
    it('should hold no secret: splitSecrets took them out', () => {
      const { args } = splitSecrets(['--token', 'TOPSECRET', '--backend-key=KEY2'], {})
      const unit = renderSystemdUnit(spec('/home/u', ['start', ...args]))
      assert.doesNotMatch(unit, /TOPSECRET|KEY2/)
    })
  })

  describe('renderLaunchdPlist', () => {
    it('should escape XML and keep each argument one <string>', () => {
      const args = ['start', '--name', 'a & <b>', '--config', "/Users/o'k/c.yaml"]
      const plist = renderLaunchdPlist(spec('/Users/a b', args, 'launchd'), true)
      const strings = [...plist.matchAll(/^ {4}<string>(.*)<\/string>$/gm)].map(m => (m[1] ?? '')
        .replaceAll('&lt;', '<').replaceAll('&gt;', '>').replaceAll('&quot;', '"').replaceAll('&apos;', "'").replaceAll('&amp;', '&'))
      assert.deepEqual(strings, ['/opt/node 20/bin/node', ...PEER_NODE_FLAGS, '--env-file=/Users/a b/.config/harombe-peer/service.env', '/Users/a b/harombe peer/bin/harombe-peer.js', ...args])
      assert.match(plist, /<key>KeepAlive<\/key>\s*<dict>\s*<key>SuccessfulExit<\/key>\s*<false\/>/)
      assert.match(plist, /<string>\/Users\/a b\/Library\/Logs\/harombe-peer\/peer\.log<\/string>/)
    })
    it('should not ask node for an env file when there are no secrets (node refuses a missing one)', () => {
      assert.doesNotMatch(renderLaunchdPlist(spec('/Users/u', ['start'], 'launchd'), false), /--env-file/)
    })
  })

  describe('renderEnvFile', () => {
    const cases: Array<[string, string]> = [
      ['abc123', 'T=abc123'],
      ['sk-proj_A.b/c+d=', 'T=sk-proj_A.b/c+d='],
      ['s3 cret #x "q" \\ $HOME', 'T=\'s3 cret #x "q" \\ $HOME\'']
    ]
    for (const [value, line] of cases) {
      it(`should write ${JSON.stringify(value)} as ${line}`, () => {
        assert.equal(renderEnvFile({ T: value }).split('\n')[1], line)
      })
    }
    it('should refuse a value no env file can hold, naming the variable', () => {
      assert.throws(() => renderEnvFile({ HAROMBE_TOKEN: "it's me" }), /HAROMBE_TOKEN/)
      assert.throws(() => renderEnvFile({ HAROMBE_TOKEN: 'a\nb' }), /HAROMBE_TOKEN/)
    })
    it('should hide values when printing', () => {
      assert.doesNotMatch(renderEnvFile({ HAROMBE_TOKEN: 'TOPSECRET' }, true), /TOPSECRET/)
    })
  })

  describe('chooseManager', () => {
    const cases: Array<[string, Parameters<typeof chooseManager>[0], string]> = [
      ['linux booted with systemd', { platform: 'linux', systemdBooted: true, hasLaunchctl: false }, 'systemd'],
      ['a container', { platform: 'linux', systemdBooted: false, hasLaunchctl: false }, 'container'],
      ['macOS', { platform: 'darwin', systemdBooted: false, hasLaunchctl: true }, 'launchd'],
      ['macOS without launchctl', { platform: 'darwin', systemdBooted: false, hasLaunchctl: false }, 'launchctl was not found'],
      ['windows', { platform: 'win32', systemdBooted: false, hasLaunchctl: false }, 'no supported service manager on win32']
    ]
    for (const [name, probe, expected] of cases) {
      it(`should answer ${expected} for ${name}`, () => {
        const choice = chooseManager(probe)
        if (choice.ok) assert.equal(choice.manager, expected)
        else assert.match(choice.reason, new RegExp(expected))
      })
    }
  })
})
