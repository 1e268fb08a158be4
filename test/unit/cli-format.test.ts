import assert from 'node:assert/strict'
import { once } from 'node:events'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { painter, padVisible, shouldColor, stripAnsi, visibleWidth } from '../../src/cli/format.js'
import { renderTable } from '../../src/cli/table.js'
import { formatStatus, statusExitCode } from '../../src/cli/status.js'
import { apiFailureOf, describeApiFailure, type ApiFailure } from '../../src/cli/api-failure.js'
import { createPeerHttpBackend } from '../../src/client/peer-http-backend.js'
import type { ClusterJson, PeerJson } from '../../src/api/cluster-json.js'
import { closedLoopbackPort } from '../helpers/run-cli.js'

const API = 'http://127.0.0.1:8000'

function peer (name: string, state: PeerJson['state'], extra: Partial<PeerJson> = {}): PeerJson {
  return {
    peer_id: `12D3KooW${name.padEnd(44, 'x')}`,
    name,
    self: false,
    state,
    reason: '',
    models: ['m'],
    unserved: null,
    wanted_name: null,
    tier: 0,
    enabled: true,
    load: { active: 0, queued: 0, capacity: 1 },
    api_port: 8000,
    addrs: [],
    version: '0.1.0',
    incarnation: 1,
    last_seen_ms: 1500,
    state_since: '2026-01-01T00:00:00.000Z',
    latency_ms: null,
    ...extra
  }
}

const CLUSTER: ClusterJson = {
  self: { peer_id: '12D3KooWa', name: 'a', api: API, addrs: [] },
  generated_at: '2026-01-01T00:00:00.000Z',
  peers: [
    peer('a', 'alive', { self: true }),
    peer('b-with-a-long-name', 'suspect'),
    peer('c', 'dead', { enabled: false }),
    peer('d', 'left')
  ],
  nodes: []
}

/** Where each column starts, from the header's titles (`LAST SEEN` is one): the same offsets must hold on every row. */
function columnStarts (header: string): number[] {
  return [...header.matchAll(/\S+(?: \S+)*/g)].map(m => m.index)
}

describe('cli format', function () {
  describe('visibleWidth', function () {
    const cases: Array<[string, number]> = [
      ['alive', 5],
      ['\x1b[32malive\x1b[39m', 5],
      ['\x1b[1m\x1b[31mx\x1b[39m\x1b[22m', 1],
      ['12D3…e6zDYm', 11],
      ['a · b', 5],
      ['', 0]
    ]
    for (const [text, width] of cases) {
      it(`should measure ${JSON.stringify(text)} as ${width} columns`, function () {
        assert.equal(visibleWidth(text), width)
      })
    }

    it('should pad a coloured cell to the same visible width as a plain one', function () {
      assert.equal(visibleWidth(padVisible('\x1b[32mok\x1b[39m', 6)), visibleWidth(padVisible('ok', 6)))
      assert.equal(stripAnsi(padVisible('\x1b[32mok\x1b[39m', 6)), 'ok    ')
    })
  })

  describe('renderTable', function () {
    it('should align coloured cells exactly as their plain text', function () {
      const paint = painter(true)
      const rows = [['a', paint('green', 'alive'), '1'], ['bbbbbb', paint('yellow', 'suspect'), '22']]
      const coloured = renderTable(['NAME', 'STATE', 'N'], rows)
      const plain = renderTable(['NAME', 'STATE', 'N'], rows.map(r => r.map(stripAnsi)))
      assert.notEqual(coloured, plain, 'the painter added no escape codes')
      assert.equal(stripAnsi(coloured), plain)
    })
  })

  describe('formatStatus', function () {
    it('should colour each state word and keep every column aligned', function () {
      const coloured = formatStatus(CLUSTER, painter(true))
      for (const [state, code] of [['alive', 32], ['suspect', 33], ['dead', 31], ['left', 90]] as const) {
        assert.ok(coloured.includes(`\x1b[${code}m${state}\x1b[39m`), `${state} is not coloured ${code}:\n${coloured}`)
      }
      const lines = stripAnsi(coloured).split('\n')
      const starts = columnStarts(lines[0] ?? '').slice(1)
      for (const line of lines.slice(1, 1 + CLUSTER.peers.length)) {
        for (const start of starts) assert.match(line.slice(start - 2, start), /^ {2}$/, `a column does not start at ${start} in ${JSON.stringify(line)}`)
      }
      assert.equal(stripAnsi(coloured), formatStatus(CLUSTER))
    })

    it('should print no escape codes without colour', function () {
      assert.doesNotMatch(formatStatus(CLUSTER), /\x1b/)
    })
  })

  describe('shouldColor', function () {
    const cases: Array<[string, boolean, NodeJS.ProcessEnv, boolean]> = [
      ['a TTY', true, {}, true],
      ['a pipe', false, {}, false],
      ['a TTY with NO_COLOR=1', true, { NO_COLOR: '1' }, false],
      ['a TTY with an empty NO_COLOR (no-color.org: ignored)', true, { NO_COLOR: '' }, true],
      ['a TTY with TERM=dumb', true, { TERM: 'dumb' }, false],
      ['a pipe with FORCE_COLOR=1', false, { FORCE_COLOR: '1' }, true],
      ['a pipe with an empty FORCE_COLOR', false, { FORCE_COLOR: '' }, true],
      ['a pipe with FORCE_COLOR=1 and NO_COLOR=1', false, { FORCE_COLOR: '1', NO_COLOR: '1' }, true],
      ['a TTY with FORCE_COLOR=0', true, { FORCE_COLOR: '0' }, false],
      ['a TTY with FORCE_COLOR=false', true, { FORCE_COLOR: 'false' }, false]
    ]
    for (const [what, isTTY, env, expected] of cases) {
      it(`should ${expected ? '' : 'not '}colour ${what}`, function () {
        assert.equal(shouldColor({ isTTY }, env), expected)
      })
    }
  })

  describe('describeApiFailure', function () {
    const cases: Array<[ApiFailure, string]> = [
      [{ kind: 'unreachable', cause: 'connection refused' }, `no harombe peer at ${API} (connection refused) — start one with \`npx harombe-peer start\` or pass --api <url>`],
      [{ kind: 'timeout', ms: 5000 }, `no answer from ${API} within 5000 ms (timed out) — is the peer overloaded, or is --api the right address?`],
      [{ kind: 'unauthorized', status: 401, tokenSent: false }, `${API} needs a bearer token (401 unauthorized) — pass --token <token> or set HAROMBE_TOKEN`],
      [{ kind: 'unauthorized', status: 401, tokenSent: true }, `${API} rejected the bearer token (401 unauthorized) — check --token or HAROMBE_TOKEN`],
      [{ kind: 'not-a-peer', path: '/api/cluster', what: 'a cluster view' }, `${API} answered /api/cluster without a cluster view — is this a harombe peer API?`],
      [{ kind: 'bad-url' }, `--api ${API}: not an http(s) URL (expected e.g. http://127.0.0.1:8000)`]
    ]
    for (const [failure, message] of cases) {
      it(`should word the ${failure.kind} failure (${JSON.stringify(failure)}) in one line`, function () {
        assert.equal(describeApiFailure(API, failure), message)
      })
    }
  })

  // apiFailureOf reads the RemoteClient's error wording (set in src/backends/upstream.ts): these
  // cases use the real client against real sockets, so a change of wording fails here first.
  describe('apiFailureOf with the RemoteClient\'s real errors', function () {
    let server: Server | undefined
    afterEach(async function () {
      await new Promise(resolve => { server?.close(resolve) ?? resolve(undefined) })
      server = undefined
    })

    const completeError = async (api: string, token?: string): Promise<unknown> => {
      const client = createPeerHttpBackend({ baseUrl: api, token })
      try {
        await client.complete({ messages: [{ role: 'user', content: 'hi' }] }, { signal: AbortSignal.timeout(10_000) })
      } catch (err) {
        return err
      } finally {
        await client.close()
      }
      assert.fail('the completion did not fail')
    }

    it('should see connection refused on a closed port', async function () {
      const api = `http://127.0.0.1:${await closedLoopbackPort()}`
      assert.deepEqual(apiFailureOf(await completeError(api), false), { kind: 'unreachable', cause: 'connection refused' })
    })

    it('should see a 401 as unauthorized, and whether a token was sent', async function () {
      server = createServer((_req, res) => { res.writeHead(401, { 'content-type': 'application/json' }).end('{"error":{"message":"missing or wrong bearer token"}}') })
      server.listen(0, '127.0.0.1')
      await once(server, 'listening')
      const api = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
      assert.deepEqual(apiFailureOf(await completeError(api), false), { kind: 'unauthorized', status: 401, tokenSent: false })
      const withToken = await completeError(api, 'wrong')
      assert.deepEqual(apiFailureOf(withToken, true), { kind: 'unauthorized', status: 401, tokenSent: true })
      assert.doesNotMatch((withToken as Error).message, /backend API key/, 'a peer\'s 401 is worded as a backend\'s')
    })

    it('should leave a failure the peer reported (not a connection problem) alone', async function () {
      server = createServer((_req, res) => { res.writeHead(503, { 'content-type': 'application/json' }).end('{"error":{"code":"no_peer","message":"no peer serves m"}}') })
      server.listen(0, '127.0.0.1')
      await once(server, 'listening')
      const api = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
      assert.equal(apiFailureOf(await completeError(api), false), undefined)
    })
  })
})

describe('status exit code', () => {
  const peer = (state: string, enabled = true): { state: string, enabled: boolean } => ({ state, enabled })
  const cases: Array<{ peers: Array<{ state: string, enabled: boolean }>, expected: 0 | 1, why: string }> = [
    { peers: [], expected: 0, why: 'an empty view' },
    { peers: [peer('alive'), peer('alive')], expected: 0, why: 'all alive' },
    { peers: [peer('alive'), peer('left')], expected: 0, why: 'a clean leave is no failure' },
    { peers: [peer('alive'), peer('suspect')], expected: 1, why: 'a suspect peer' },
    { peers: [peer('alive'), peer('dead')], expected: 1, why: 'a dead peer' },
    { peers: [peer('alive'), peer('dead', false)], expected: 0, why: 'a disabled dead peer' }
  ]
  for (const c of cases) {
    it(`should exit ${c.expected} for ${c.why}`, () => {
      assert.equal(statusExitCode({ peers: c.peers as unknown as PeerJson[] }), c.expected)
    })
  }
})
