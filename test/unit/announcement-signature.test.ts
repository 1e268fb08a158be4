import assert from 'node:assert/strict'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { PrivateKey } from '@libp2p/interface'
import { signAnnouncement, verifyAnnouncement } from '../../src/membership/announcement.js'
import type { Announcement } from '../../src/membership/types.js'

describe('announcement signatures (second-hand entries in a full view)', () => {
  let key: PrivateKey
  let other: PrivateKey
  let base: Announcement

  before(async () => {
    key = await generateKeyPair('Ed25519')
    other = await generateKeyPair('Ed25519')
    base = {
      peer_id: peerIdFromPrivateKey(key).toString(),
      name: 'a',
      incarnation: 1,
      seq: 7,
      state: 'alive',
      models: ['llama'],
      tier: 1,
      enabled: true,
      load: { active: 0, queued: 0, capacity: 4 },
      api_port: 8000,
      addrs: ['/ip4/127.0.0.1/tcp/4700'],
      version: '0.1.0'
    }
  })

  it('should verify an announcement signed by its own peer', async () => {
    assert.equal(await verifyAnnouncement(await signAnnouncement(base, key)), true)
  })

  it('should survive a JSON round trip with keys in another order', async () => {
    const signed = await signAnnouncement(base, key)
    const reordered = Object.fromEntries(Object.entries(JSON.parse(JSON.stringify(signed))).reverse()) as unknown as Announcement
    assert.equal(await verifyAnnouncement(reordered), true)
  })

  const tampering: Array<[string, (a: Announcement) => Announcement]> = [
    ['a higher seq', a => ({ ...a, seq: a.seq + 1 })],
    ['another tier', a => ({ ...a, tier: 2 })],
    ['changed load', a => ({ ...a, load: { ...a.load, active: 3 } })],
    ['an extra model', a => ({ ...a, models: [...a.models, 'evil'] })],
    ['state leaving', a => ({ ...a, state: 'leaving' })],
    ['another address', a => ({ ...a, addrs: ['/ip4/10.0.0.1/tcp/1'] })],
    ['an unserved reason added', a => ({ ...a, unserved: { models: ['m'], reason: 'backend down' } })]
  ]
  for (const [what, tamper] of tampering) {
    it(`should reject an announcement with ${what} after signing`, async () => {
      assert.equal(await verifyAnnouncement(tamper(await signAnnouncement(base, key))), false)
    })
  }

  it('should sign what a peer does not serve and why, and reject a changed reason', async () => {
    const signed = await signAnnouncement({ ...base, unserved: { models: ['m'], reason: 'backend down: ollama at http://127.0.0.1:11434 is unreachable (ECONNREFUSED)' } }, key)
    assert.equal(await verifyAnnouncement(signed), true)
    assert.equal(await verifyAnnouncement({ ...signed, unserved: { models: ['m'], reason: 'fine' } }), false)
  })

  it('should reject an announcement signed by another peer (forged second-hand)', async () => {
    assert.equal(await verifyAnnouncement(await signAnnouncement(base, other)), false)
  })

  it('should reject an unsigned announcement and a garbage signature', async () => {
    assert.equal(await verifyAnnouncement(base), false)
    assert.equal(await verifyAnnouncement({ ...base, sig: 'not base64 at all!' }), false)
    assert.equal(await verifyAnnouncement({ ...base, sig: Buffer.alloc(64).toString('base64') }), false)
  })
})
