import { createHash } from 'node:crypto'
import { TopicValidatorResult, type Message, type PeerId, type PubSub } from '@libp2p/interface'
import type { GossipsubEvents } from '@chainsafe/libp2p-gossipsub'
import { concat } from 'uint8arrays/concat'
import { fromString } from 'uint8arrays/from-string'
import { decodeAnnouncement, encodeAnnouncement } from './announcement.js'
import { compareVersion } from './view.js'
import { MEMBERSHIP_TOPIC } from '../mesh/constants.js'
import type { Announcement } from './types.js'
import type { Logger } from '../log.js'

/** A version of one peer's announcement. */
type Version = Pick<Announcement, 'incarnation' | 'seq'>

/** What the door does with one message on the topic (pure; the signature check is the caller's). */
export type Judgement =
  | { action: 'reject', reason: string }
  | { action: 'ignore', reason: string }
  /** New on the topic: accept once its signature checks out. */
  | { action: 'verify', announcement: Announcement }
  /** The very copy our view holds (same version, same signature): checked when it was taken. */
  | { action: 'accept', announcement: Announcement }

/**
 * The topic validator's rules, in order: bytes that do not decode to an announcement (oversize,
 * malformed, unsigned) are rejected, which costs their sender gossipsub score; a version not newer
 * than the newest this peer has seen of that member *on the topic* is ignored (neither forwarded
 * nor penalised); anything else has its signature checked once. "On the topic", not in the view:
 * a version that reached the view first by SWIM or a push-pull must still be forwarded here, or
 * a listener that hears only the topic would miss it.
 */
export function judgeAnnouncement (
  bytes: Uint8Array,
  known: (peerId: string) => { newestOnTopic?: Version, held?: Announcement }
): Judgement {
  const decoded = decodeAnnouncement(bytes)
  if (!decoded.ok) return { action: 'reject', reason: decoded.reason }
  const ann = decoded.value
  if (ann.sig == null) return { action: 'reject', reason: 'unsigned' }
  const { newestOnTopic, held } = known(ann.peer_id)
  if (newestOnTopic != null && compareVersion(ann, newestOnTopic) <= 0) return { action: 'ignore', reason: 'not newer than the version seen on the topic' }
  if (held != null && compareVersion(ann, held) === 0 && held.sig === ann.sig) return { action: 'accept', announcement: ann }
  return { action: 'verify', announcement: ann }
}

const decoder = new TextDecoder()
/** The signature's first characters in the id: a forgery cannot take a future version's id (and so get the real one dropped as a duplicate). */
const ID_SIG_CHARS = 16

/**
 * Gossipsub message id: "a:<peer>/<incarnation>/<seq>/<signature prefix>", so every copy of one
 * version is dropped as a duplicate before any check, and each version is verified once. Bytes
 * that are not an announcement get "h:" + sha256 (gossipsub's own choice for unsigned messages);
 * the validator rejects them right after.
 */
export function announcementMessageId (message: Message): Uint8Array {
  try {
    const v = JSON.parse(decoder.decode(message.data))
    if (typeof v?.peer_id === 'string' && Number.isSafeInteger(v.incarnation) && Number.isSafeInteger(v.seq) && typeof v.sig === 'string') {
      return fromString(`a:${v.peer_id as string}/${v.incarnation as number}/${v.seq as number}/${(v.sig as string).slice(0, ID_SIG_CHARS)}`)
    }
  } catch {}
  return concat([fromString('h:'), createHash('sha256').update(message.data).digest()])
}

export interface AnnouncementTopicInit {
  pubsub: PubSub<GossipsubEvents>
  /** Our own peer id: our announcements coming back are not news. */
  selfId: string
  /** The view's copy of a member's announcement. */
  held: (peerId: string) => Announcement | undefined
  verify: (ann: Announcement) => Promise<boolean>
  /** An announcement through the door (signature checked): the view takes it if it is newer. */
  onAnnouncement: (from: string, ann: Announcement) => void
  /** A member subscribed to the topic (our last publish may have reached nobody). */
  onListener: () => void
  logger: Logger
}

export interface AnnouncementTopic {
  start: () => void
  stop: () => void
  /** Publishes our announcement; resolves with the number of peers it was sent to. */
  publish: (ann: Announcement) => Promise<number>
  /** Members whose subscription to the topic we hold. */
  listeners: () => number
  /** A member left the view: its topic record goes too (the map follows the view, not history). */
  forget: (peerId: string) => void
  readonly counts: { published: number, accepted: number, rejected: number, ignored: number }
  /** Members whose newest version on the topic is kept (at most MAX_TOPIC_RECORDS). */
  readonly records: number
}

/** More members than a home lab has; past it the records are dropped (a version then counts as new once more). */
export const MAX_TOPIC_RECORDS = 4096

/** Membership announcements on the gossipsub topic `harombe/membership/1`, validated at the door. */
export function createAnnouncementTopic (init: AnnouncementTopicInit): AnnouncementTopic {
  const { pubsub, logger: log } = init
  /** The newest version seen of each member on the topic (ours included). */
  const newest = new Map<string, Version>()
  const counts = { published: 0, accepted: 0, rejected: 0, ignored: 0 }
  let running = false

  const record = (ann: Announcement): void => {
    if (newest.size >= MAX_TOPIC_RECORDS && !newest.has(ann.peer_id)) newest.clear()
    newest.set(ann.peer_id, { incarnation: ann.incarnation, seq: ann.seq })
  }

  const validate = async (from: PeerId, message: Message): Promise<TopicValidatorResult> => {
    const judgement = judgeAnnouncement(message.data, peerId => ({ newestOnTopic: newest.get(peerId), held: init.held(peerId) }))
    if (judgement.action === 'reject' || judgement.action === 'ignore') return refuse(from, judgement)
    const ann = judgement.announcement
    if (judgement.action === 'verify' && !await init.verify(ann)) {
      // Whoever relays or forges it, only the named peer's own key signs its announcements.
      return refuse(from, { action: 'reject', reason: `not signed by ${ann.peer_id}, the peer it names` })
    }
    // Another copy of a newer version may have passed while the signature was checked.
    const seen = newest.get(ann.peer_id)
    if (seen != null && compareVersion(ann, seen) <= 0) return refuse(from, { action: 'ignore', reason: 'not newer than the version seen on the topic' })
    record(ann)
    counts.accepted++
    if (ann.peer_id !== init.selfId) init.onAnnouncement(from.toString(), ann)
    return TopicValidatorResult.Accept
  }

  const refuse = (from: PeerId, judgement: Extract<Judgement, { action: 'reject' | 'ignore' }>): TopicValidatorResult => {
    if (judgement.action === 'ignore') {
      counts.ignored++
      return TopicValidatorResult.Ignore
    }
    counts.rejected++
    log.warn({ peer: from.toString() }, `announcement on ${MEMBERSHIP_TOPIC} rejected: ${judgement.reason}`)
    return TopicValidatorResult.Reject
  }

  const onSubscriptionChange = (event: CustomEvent<{ subscriptions: Array<{ topic: string, subscribe: boolean }> }>): void => {
    if (event.detail.subscriptions.some(s => s.topic === MEMBERSHIP_TOPIC && s.subscribe)) init.onListener()
  }

  return {
    start () {
      if (running) return
      running = true
      pubsub.topicValidators.set(MEMBERSHIP_TOPIC, validate)
      pubsub.addEventListener('subscription-change', onSubscriptionChange as any)
      pubsub.subscribe(MEMBERSHIP_TOPIC)
    },
    stop () {
      if (!running) return
      running = false
      pubsub.removeEventListener('subscription-change', onSubscriptionChange as any)
      // A stopped pubsub has dropped its subscriptions already.
      try { pubsub.unsubscribe(MEMBERSHIP_TOPIC) } catch {}
      pubsub.topicValidators.delete(MEMBERSHIP_TOPIC)
      newest.clear()
    },
    async publish (ann) {
      if (!running) return 0
      record(ann)
      const { recipients } = await pubsub.publish(MEMBERSHIP_TOPIC, encodeAnnouncement(ann))
      counts.published++
      return recipients.length
    },
    listeners: () => running ? pubsub.getSubscribers(MEMBERSHIP_TOPIC).length : 0,
    forget (peerId) { newest.delete(peerId) },
    counts,
    get records () { return newest.size }
  }
}
