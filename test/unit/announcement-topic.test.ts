import assert from 'node:assert/strict'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { Message } from '@libp2p/interface'
import { announcementMessageId, createAnnouncementTopic, judgeAnnouncement, MAX_TOPIC_RECORDS, type Judgement } from '../../src/membership/announcement-topic.js'
import { silentLogger } from '../../src/log.js'
import { signAnnouncement } from '../../src/membership/announcement.js'
import type { Announcement } from '../../src/membership/types.js'

const encode = (x: unknown): Uint8Array => new TextEncoder().encode(typeof x === 'string' ? x : JSON.stringify(x))
const message = (data: Uint8Array): Message => ({ type: 'unsigned', topic: 'harombe/membership/1', data })

describe('the topic validator\'s rules (judgeAnnouncement)', () => {
  let peer: string
  let signed: Announcement
  before(async () => {
    const key = await generateKeyPair('Ed25519')
    peer = peerIdFromPrivateKey(key).toString()
    signed = await signAnnouncement({
      peer_id: peer, name: 'p', incarnation: 5, seq: 3, state: 'alive', models: ['m'], tier: 0, enabled: true,
      load: { active: 0, queued: 0, capacity: 1 }, api_port: 1, addrs: [], version: 'x'
    }, key)
  })

  const rows: Array<{ name: string, bytes: () => Uint8Array, topic?: () => { incarnation: number, seq: number }, held?: () => Announcement, expect: Judgement['action'], reason?: RegExp }> = [
    { name: 'reject bytes that are not JSON', bytes: () => encode('{not json'), expect: 'reject', reason: /malformed/ },
    { name: 'reject an oversize payload', bytes: () => encode({ ...signed, name: 'x'.repeat(5_000) }), expect: 'reject', reason: /oversize/ },
    { name: 'reject a payload missing fields', bytes: () => encode({ peer_id: peer }), expect: 'reject', reason: /malformed/ },
    { name: 'reject an unsigned announcement', bytes: () => { const { sig: _s, ...rest } = signed; return encode(rest) }, expect: 'reject', reason: /unsigned/ },
    { name: 'ignore a version the topic has seen', bytes: () => encode(signed), topic: () => ({ incarnation: 5, seq: 3 }), expect: 'ignore' },
    { name: 'ignore an older version', bytes: () => encode(signed), topic: () => ({ incarnation: 5, seq: 4 }), expect: 'ignore' },
    { name: 'check a newer version\'s signature', bytes: () => encode(signed), topic: () => ({ incarnation: 5, seq: 2 }), expect: 'verify' },
    { name: 'check the signature of a member new to the topic', bytes: () => encode(signed), expect: 'verify' },
    { name: 'accept without a second check the very copy the view holds', bytes: () => encode(signed), held: () => signed, expect: 'accept' },
    { name: 'check a copy whose signature differs from the one held', bytes: () => encode(signed), held: () => ({ ...signed, sig: 'AAAA' }), expect: 'verify' },
    { name: 'check the signature even when the view holds a newer version (the topic must still forward it)', bytes: () => encode(signed), held: () => ({ ...signed, seq: 9 }), expect: 'verify' }
  ]
  for (const row of rows) {
    it(`should ${row.name}`, () => {
      const judgement = judgeAnnouncement(row.bytes(), id => ({ newestOnTopic: id === peer ? row.topic?.() : undefined, held: id === peer ? row.held?.() : undefined }))
      assert.equal(judgement.action, row.expect, JSON.stringify(judgement))
      if (row.reason != null && 'reason' in judgement) assert.match(judgement.reason, row.reason)
    })
  }

  it('should give every copy of one version one message id, and other versions or signatures another', () => {
    const id = (a: unknown): string => Buffer.from(announcementMessageId(message(encode(a)))).toString()
    assert.equal(id(signed), id(JSON.parse(JSON.stringify(signed))), 'copies of one version')
    assert.equal(id(signed), `a:${peer}/5/3/${(signed.sig ?? '').slice(0, 16)}`)
    assert.notEqual(id(signed), id({ ...signed, seq: 4 }), 'another seq')
    assert.notEqual(id(signed), id({ ...signed, incarnation: 6 }), 'another incarnation')
    // A forgery of the same version must not take the genuine one's id (it would be dropped as a duplicate).
    assert.notEqual(id(signed), id({ ...signed, sig: 'Zm9yZ2VkIHNpZ25hdHVyZQ==' }), 'another signature')
  })

  it('should give bytes that are not an announcement a content hash as id', () => {
    const a = Buffer.from(announcementMessageId(message(encode('junk')))).toString('latin1')
    const b = Buffer.from(announcementMessageId(message(encode('other junk')))).toString('latin1')
    assert.ok(a.startsWith('h:') && b.startsWith('h:'))
    assert.notEqual(a, b)
  })
})

describe('the topic\'s newest-version records (membership.topic-versions)', () => {
  it('should never keep more than MAX_TOPIC_RECORDS members, starting over when full', async () => {
    const pubsub = {
      topicValidators: new Map(),
      addEventListener: () => {},
      removeEventListener: () => {},
      subscribe: () => {},
      unsubscribe: () => {},
      publish: async () => ({ recipients: [] })
    }
    const topic = createAnnouncementTopic({
      pubsub: pubsub as any,
      selfId: 'self',
      held: () => undefined,
      verify: async () => true,
      onAnnouncement: () => {},
      onListener: () => {},
      logger: silentLogger()
    })
    topic.start()
    // Valid ids (publish encodes what it records): a private key each.
    const ids = await Promise.all(Array.from({ length: MAX_TOPIC_RECORDS + 1 }, async () => peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()))
    const ann = (i: number): Announcement => ({
      peer_id: ids[i] as string, name: 'p', incarnation: 1, seq: 1, state: 'alive', models: [], tier: 0, enabled: true,
      load: { active: 0, queued: 0, capacity: 1 }, api_port: 1, addrs: [], version: 'x'
    })
    for (let i = 0; i < MAX_TOPIC_RECORDS; i++) await topic.publish(ann(i))
    assert.equal(topic.records, MAX_TOPIC_RECORDS, 'full')
    await topic.publish(ann(0))
    assert.equal(topic.records, MAX_TOPIC_RECORDS, 'a member it holds takes no room')
    await topic.publish(ann(MAX_TOPIC_RECORDS))
    assert.equal(topic.records, 1, 'one more: the records start over with it')
    topic.forget(ids[MAX_TOPIC_RECORDS] as string)
    assert.equal(topic.records, 0)
    topic.stop()
  })
})
