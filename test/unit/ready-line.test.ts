import assert from 'node:assert/strict'
import { openMeshNotice, readyJson, readyText, type ExposureInput } from '../../src/cli/ready-line.js'

// Issue 27: `start` with no options listens on 0.0.0.0:4700 with mDNS on and no mesh key; the
// ready output says so, and `start --json` prints the ready line as JSON.

describe('openMeshNotice', () => {
  const LAN = 'open mesh on the LAN: anyone on it can join — harombe-peer init writes a key (then start every peer with --mesh-key mesh.key)'
  const cases: Array<{ title: string, input: ExposureInput, expected: string | undefined }> = [
    { title: 'the default start (0.0.0.0:4700, mDNS, no key)', input: { meshKey: false, mdns: true, listen: ['/ip4/0.0.0.0/tcp/4700'] }, expected: LAN },
    { title: 'a mesh key', input: { meshKey: true, mdns: true, listen: ['/ip4/0.0.0.0/tcp/4700'] }, expected: undefined },
    { title: 'loopback only, mDNS off', input: { meshKey: false, mdns: false, listen: ['/ip4/127.0.0.1/tcp/0'] }, expected: undefined },
    { title: 'loopback only, mDNS on (nobody else can connect)', input: { meshKey: false, mdns: true, listen: ['/ip4/127.0.0.1/tcp/0', '/ip6/::1/tcp/0'] }, expected: undefined },
    {
      title: 'mDNS off on a public address',
      input: { meshKey: false, mdns: false, listen: ['/ip4/127.0.0.1/tcp/4700', '/ip4/0.0.0.0/tcp/4700'] },
      expected: 'open mesh: anyone who can reach /ip4/0.0.0.0/tcp/4700 can join — harombe-peer init writes a key (then start every peer with --mesh-key mesh.key)'
    }
  ]
  for (const c of cases) {
    it(`should say ${c.expected == null ? 'nothing' : 'so'} for ${c.title}`, () => {
      assert.equal(openMeshNotice(c.input), c.expected)
    })
  }
})

describe('ready line', () => {
  const info = { name: 'a', peerId: '12D3KooWx', apiUrl: 'http://127.0.0.1:8000', meshAddrs: ['/ip4/127.0.0.1/tcp/4700/p2p/12D3KooWx', '/ip4/192.0.2.1/tcp/4700/p2p/12D3KooWx'] }

  it('should print the text line scripts parse', () => {
    assert.equal(readyText(info), 'harombe-peer ready name=a peer=12D3KooWx api=http://127.0.0.1:8000 mesh=/ip4/127.0.0.1/tcp/4700/p2p/12D3KooWx,/ip4/192.0.2.1/tcp/4700/p2p/12D3KooWx')
  })

  it('should print the same facts as JSON, with the notice when the mesh is open', () => {
    assert.deepEqual(JSON.parse(readyJson(info, 'open mesh')), {
      event: 'ready', name: 'a', peer_id: '12D3KooWx', api: 'http://127.0.0.1:8000', mesh: info.meshAddrs, open_mesh: true, notice: 'open mesh'
    })
    assert.deepEqual(JSON.parse(readyJson(info, undefined)).open_mesh, false)
  })
})
