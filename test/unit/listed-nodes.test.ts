import assert from 'node:assert/strict'
import { listedNodeJson, listedNodesJson, type ListedNodeInputs } from '../../src/http/listed-nodes-json.js'
import { rowFails, statusRows } from '../../src/cli/status-rows.js'
import { statusExitCode } from '../../src/cli/status.js'
import { modelRows } from '../../src/cli/models.js'
import type { ListedNode, NodeCheck } from '../../src/client/listed-nodes.js'
import type { Member, MemberState } from '../../src/membership/types.js'
import type { ListedNodeJson, PeerJson } from '../../src/api/cluster-json.js'

const NOW = Date.parse('2026-12-03T12:00:00.000Z')
const node = (name: string, extra: Partial<ListedNode> = {}): ListedNode => ({ name, host: '127.0.0.1', port: 8000, models: [`${name}-model`], tier: 1, ...extra })
const ok = (extra: Partial<NodeCheck> = {}): NodeCheck => ({ ok: true, since: NOW - 1000, latencyMs: 1.5, peerId: 'P-http', ...extra })
const failed = (error = 'connect ECONNREFUSED 127.0.0.1:8000'): NodeCheck => ({ ok: false, since: NOW - 2000, error })

function member (name: string, state: MemberState, peerId = `P-${name}-${state}`): Member {
  return {
    peerId,
    state,
    reason: '',
    stateSince: NOW - 500,
    lastHeard: NOW - 100,
    announcement: { peer_id: peerId, name, incarnation: 1, seq: 1, state: 'alive', models: ['real'], tier: 1, enabled: true, load: { active: 0, queued: 0, capacity: 1 }, api_port: 8000, addrs: [], version: 'x' }
  }
}

describe('listed nodes', () => {
  describe('listedNodeJson: a cluster-file node\'s state', () => {
    const base: Omit<ListedNodeInputs, 'node'> = { selfName: 'me', selfId: 'P-me', members: [] }
    const cases: Array<{ why: string, inputs: ListedNodeInputs, state: ListedNodeJson['state'], peerId: string | null, lastError?: string }> = [
      { why: 'disabled, even if it answers', inputs: { ...base, node: node('d', { enabled: false }), check: ok(), members: [member('d', 'alive')] }, state: 'disabled', peerId: null },
      { why: 'this peer\'s own entry', inputs: { ...base, node: node('me') }, state: 'alive', peerId: 'P-me' },
      { why: 'alive in the mesh, whatever HTTP says', inputs: { ...base, node: node('a'), check: failed(), members: [member('a', 'alive')] }, state: 'alive', peerId: 'P-a-alive' },
      { why: 'a restarted node: the alive id wins over the dead one', inputs: { ...base, node: node('a'), members: [member('a', 'dead'), member('a', 'alive')] }, state: 'alive', peerId: 'P-a-alive' },
      { why: 'answering over HTTP, not in the mesh', inputs: { ...base, node: node('h'), check: ok() }, state: 'reachable', peerId: 'P-http' },
      { why: 'answering over HTTP, suspect in the mesh', inputs: { ...base, node: node('h'), check: ok(), members: [member('h', 'suspect')] }, state: 'reachable', peerId: 'P-http' },
      { why: 'not answering, dead in the mesh', inputs: { ...base, node: node('x'), check: failed(), members: [member('x', 'dead')] }, state: 'unreachable', peerId: 'P-x-dead', lastError: 'connect ECONNREFUSED 127.0.0.1:8000' },
      { why: 'never answered and never seen', inputs: { ...base, node: node('x'), check: failed('timed out') }, state: 'unreachable', peerId: null, lastError: 'timed out' },
      { why: 'not checked yet', inputs: { ...base, node: node('n') }, state: 'checking', peerId: null }
    ]
    for (const c of cases) {
      it(`should say ${c.state} for ${c.why}`, () => {
        const json = listedNodeJson(c.inputs)
        assert.equal(json.state, c.state)
        assert.equal(json.peer_id, c.peerId)
        assert.equal(json.last_error, c.lastError ?? null)
        assert.equal(json.enabled, c.inputs.node.enabled !== false)
      })
    }

    it('should keep file order and match members by name', () => {
      const rows = listedNodesJson([node('b'), node('a'), node('me')], new Map([['b', failed()]]), [member('a', 'alive'), member('z', 'alive')], { name: 'me', peerId: 'P-me' })
      assert.deepEqual(rows.map(r => [r.name, r.state, r.self]), [['b', 'unreachable', false], ['a', 'alive', false], ['me', 'alive', true]])
    })
  })

  describe('statusRows: one row per node, merged with the mesh', () => {
    const peerJson = (name: string, state: PeerJson['state'], extra: Partial<PeerJson> = {}): PeerJson => ({
      peer_id: `P-${name}-${state}`, name, self: false, state, reason: '', models: ['real'], unserved: null, wanted_name: null, tier: 1, enabled: true,
      load: { active: 0, queued: 0, capacity: 1 }, api_port: 8000, addrs: [], version: 'x', incarnation: 1, last_seen_ms: 100, state_since: '', latency_ms: 0.4, ...extra
    })
    const nodeJson = (name: string, state: ListedNodeJson['state'], extra: Partial<ListedNodeJson> = {}): ListedNodeJson => ({
      name, host: 'h', port: 8000, models: [`${name}-model`], tier: 2, enabled: state !== 'disabled', self: false, state, reason: state, peer_id: null, latency_ms: null, since: null, last_error: null, ...extra
    })

    it('should merge a node with its mesh peer, list file rows first and mesh-only peers after', () => {
      const rows = statusRows({
        peers: [peerJson('zed', 'alive'), peerJson('a', 'alive'), peerJson('me', 'alive', { self: true })],
        nodes: [nodeJson('me', 'alive', { self: true }), nodeJson('a', 'alive'), nodeJson('b', 'unreachable'), nodeJson('c', 'disabled')]
      })
      assert.deepEqual(rows.map(r => [r.name, r.source, r.state, r.models.join()]), [
        ['me', 'file+mesh', 'alive', 'real'],
        ['a', 'file+mesh', 'alive', 'real'],
        ['b', 'file', 'unreachable', 'b-model'],
        ['c', 'file', 'disabled', 'c-model'],
        ['zed', 'mesh', 'alive', 'real']
      ])
    })

    it('should show the file\'s models and no load for a listed node the mesh holds dead', () => {
      const [row] = statusRows({ peers: [peerJson('a', 'dead')], nodes: [nodeJson('a', 'unreachable')] })
      assert.deepEqual([row?.source, row?.state, row?.models, row?.load, row?.peer_id], ['file+mesh', 'unreachable', ['a-model'], null, 'P-a-dead'])
    })

    const exitCases: Array<{ why: string, peers: PeerJson[], nodes: ListedNodeJson[], code: 0 | 1 }> = [
      { why: 'no file, all alive', peers: [peerJson('a', 'alive')], nodes: [], code: 0 },
      { why: 'an unreachable listed node', peers: [peerJson('a', 'alive')], nodes: [nodeJson('b', 'unreachable')], code: 1 },
      { why: 'a disabled listed node', peers: [peerJson('a', 'alive')], nodes: [nodeJson('b', 'disabled')], code: 0 },
      { why: 'a node reached over HTTP only', peers: [], nodes: [nodeJson('b', 'reachable')], code: 0 },
      { why: 'a node still being checked', peers: [], nodes: [nodeJson('b', 'checking')], code: 0 },
      { why: 'a dead mesh peer the file does not list', peers: [peerJson('x', 'dead')], nodes: [nodeJson('b', 'alive')], code: 1 },
      { why: 'a listed node dead in the mesh but answering over HTTP', peers: [peerJson('b', 'dead')], nodes: [nodeJson('b', 'reachable')], code: 0 },
      { why: 'a listed node that came up (unreachable → alive)', peers: [peerJson('b', 'alive', { models: ['b-model'] })], nodes: [nodeJson('b', 'alive')], code: 0 },
      // Issue 27: alive is not enough; a listed node must serve what the file lists it with.
      { why: 'a listed node alive without its file model', peers: [peerJson('b', 'alive')], nodes: [nodeJson('b', 'alive')], code: 1 },
      { why: 'a peer that left on purpose', peers: [peerJson('a', 'alive'), peerJson('x', 'left')], nodes: [], code: 0 },
      { why: 'a peer announcing its backend down', peers: [peerJson('x', 'alive', { models: [], unserved: { models: [], reason: 'backend down: ollama backend at http://127.0.0.1:1: connection refused' } })], nodes: [], code: 1 }
    ]
    for (const c of exitCases) {
      it(`should exit ${c.code} for ${c.why}`, () => {
        assert.equal(statusExitCode({ peers: c.peers, nodes: c.nodes }), c.code)
        assert.equal(statusRows({ peers: c.peers, nodes: c.nodes }).some(rowFails), c.code === 1)
      })
    }
  })

  describe('modelRows: served models plus what listed nodes should serve', () => {
    it('should add down or disabled nodes under their file models, and mark HTTP-only ones', () => {
      const rows = modelRows(
        [{ name: 'm1', nodes: [{ name: 'a', peer_id: 'P-a', tier: 0 }, { name: 'h', peer_id: 'http:h', tier: 1 }] }],
        [
          { name: 'a', host: 'h', port: 1, models: ['m1'], tier: 0, enabled: true, self: false, state: 'alive', reason: '', peer_id: 'P-a', latency_ms: null, since: null, last_error: null },
          { name: 'h', host: 'h', port: 1, models: ['m1'], tier: 1, enabled: true, self: false, state: 'reachable', reason: '', peer_id: null, latency_ms: 2, since: null, last_error: null },
          { name: 'b', host: 'h', port: 1, models: ['m1', 'm2'], tier: 2, enabled: true, self: false, state: 'unreachable', reason: '', peer_id: null, latency_ms: null, since: null, last_error: 'x' },
          { name: 'c', host: 'h', port: 1, models: ['m3'], tier: 2, enabled: false, self: false, state: 'disabled', reason: '', peer_id: null, latency_ms: null, since: null, last_error: null }
        ]
      )
      assert.deepEqual(rows.map(r => [r.name, r.nodes.map(n => `${n.name}:${n.state}`)]), [
        ['m1', ['a:alive', 'h:reachable', 'b:unreachable']],
        ['m2', ['b:unreachable']],
        ['m3', ['c:disabled']]
      ])
      assert.equal(rows[0]?.nodes[1]?.peer_id, null, 'an HTTP candidate id is not a peer id')
    })
  })
})
