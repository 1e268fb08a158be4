import assert from 'node:assert/strict'
import { peerIdFromString } from '@libp2p/peer-id'
import { PROFILES } from '../../src/membership/profiles.js'
import { applyEvent, applyEvents, compareVersion, emptyView, LAST_HEARD_RESOLUTION_MS } from '../../src/membership/view.js'
import type { ClusterView, ViewChange, ViewEvent } from '../../src/membership/view.js'
import type { Announcement, Member, MemberState } from '../../src/membership/types.js'

// Ed25519 peer ids, generated once with generateKeyPair('Ed25519') + peerIdFromPrivateKey.
const PEERS = {
  self: '12D3KooWA3cUjSVSUPDJhNdnBVk1ZVx3WEj2aXYPXBCCPuefFcQh',
  A: '12D3KooWQMHZVjj47RKpX2mhNeUV4PFHdzbj9EAv8qHxaMDJuXq1',
  B: '12D3KooWBgfaKjhnFrTBhmF7DQ2B3bMNNhLQCPuz74U2uaG8JuMo',
  C: '12D3KooWGUV7ejwuUidJSBqgBWFLp9ZegZyQjoD36AazBwGJeEbQ'
} as const

type Alias = keyof typeof PEERS

// suspicionTimeoutMs 700, retentionMs 10 000.
const T = PROFILES.test
/** Longer than any timeout but retention: silence alone must not move anyone. */
const LONG_SILENCE = 5_000
/** When the rows below have a probe of a member fail. */
const SUSPECT_AFTER = 500
const SUSPICION = T.suspicionTimeoutMs
const RETENTION = T.retentionMs

function ann (who: Alias, fields: Partial<Announcement> = {}): Announcement {
  return {
    peer_id: PEERS[who],
    name: who,
    incarnation: 1,
    seq: 1,
    state: 'alive',
    models: ['llama3.2:3b'],
    tier: 0,
    enabled: true,
    load: { active: 0, queued: 0, capacity: 4 },
    api_port: 8080,
    addrs: ['/ip4/127.0.0.1/tcp/4700'],
    version: '0.1.0',
    ...fields
  }
}

function announce (who: Alias, now: number, fields: Partial<Announcement> = {}, reportedState?: MemberState): ViewEvent {
  const event: ViewEvent = { type: 'announce', announcement: ann(who, fields), now }
  if (reportedState != null) event.reportedState = reportedState
  return event
}
/** Our own probe failed (the wiring's first-hand suspicion; the old connection-closed rule). */
const disconnected = (who: Alias, now: number): ViewEvent => ({ type: 'suspect', peerId: PEERS[who], now, reason: 'connection closed' })
const probeFailed = (who: Alias, now: number): ViewEvent => ({ type: 'suspect', peerId: PEERS[who], now, reason: 'no answer to probes' })
const unreachable = (who: Alias, now: number, reason = 'ping timed out'): ViewEvent => ({ type: 'unreachable', peerId: PEERS[who], now, reason })
const reachable = (who: Alias, now: number): ViewEvent => ({ type: 'reachable', peerId: PEERS[who], now })
const tick = (now: number): ViewEvent => ({ type: 'tick', now })

function alias (peerId: string): string {
  const entry = Object.entries(PEERS).find(([, id]) => id === peerId)
  return entry?.[0] ?? peerId
}

/** One line per change, readable in an assertion diff: `joined A (alive)`, `A alive→suspect`. */
function describeChange (change: ViewChange): string {
  const who = alias(change.peerId)
  switch (change.kind) {
    case 'joined': return `joined ${who} (${change.member.state})`
    case 'updated': return `updated ${who}`
    case 'state': return `${who} ${change.from}→${change.to}`
    case 'removed': return `removed ${who}`
  }
}

function build (events: ViewEvent[]): ClusterView {
  return applyEvents(emptyView(PEERS.self), events, T).view
}

interface Row {
  name: string
  /** Events that set up the state before the event under test. */
  setup?: ViewEvent[]
  event: ViewEvent
  /** The member whose state is checked (default A). */
  peer?: Alias
  state: MemberState | 'absent'
  /** Substring of the member's reason. */
  reason?: string
  changes: string[]
  /** Compare changes as a set (one tick may touch several members). */
  unordered?: boolean
  /** The input view is returned as is. */
  unchanged?: boolean
  stateSince?: number
  lastHeard?: number
  check?: (member: Member) => void
}

function runRows (rows: Row[]): void {
  for (const row of rows) {
    it(`should ${row.name}`, () => {
      const before = build(row.setup ?? [])
      const { view, changes } = applyEvent(before, row.event, T)
      const peerId = PEERS[row.peer ?? 'A']
      const member = view.members.get(peerId)

      const got = changes.map(describeChange)
      if (row.unordered === true) assert.deepEqual([...got].sort(), [...row.changes].sort(), 'changes')
      else assert.deepEqual(got, row.changes, 'changes')

      if (row.state === 'absent') {
        assert.equal(member, undefined, 'member should not be in the view')
      } else {
        assert.ok(member != null, 'member should be in the view')
        assert.equal(member.state, row.state, 'state')
        if (row.reason != null) assert.ok(member.reason.includes(row.reason), `reason '${member.reason}' should include '${row.reason}'`)
        if (row.stateSince != null) assert.equal(member.stateSince, row.stateSince, 'stateSince')
        if (row.lastHeard != null) assert.equal(member.lastHeard, row.lastHeard, 'lastHeard')
        row.check?.(member)
      }
      if (row.unchanged === true) assert.equal(view, before, 'the input view should be returned unchanged')

      // Every change carries the member as it is in the resulting view.
      for (const change of changes) {
        if (change.kind !== 'removed') assert.deepEqual(change.member, view.members.get(change.peerId), `member of ${describeChange(change)}`)
      }
    })
  }
}

describe('cluster view', () => {
  it('should use valid peer ids in these tests', () => {
    for (const id of Object.values(PEERS)) assert.equal(peerIdFromString(id).toString(), id)
  })

  describe('compareVersion', () => {
    const cases: Array<[string, { incarnation: number, seq: number }, { incarnation: number, seq: number }, number]> = [
      ['equal versions', { incarnation: 1, seq: 1 }, { incarnation: 1, seq: 1 }, 0],
      ['a newer seq', { incarnation: 1, seq: 2 }, { incarnation: 1, seq: 1 }, 1],
      ['an older seq', { incarnation: 1, seq: 1 }, { incarnation: 1, seq: 2 }, -1],
      ['a higher incarnation over a higher seq', { incarnation: 2, seq: 0 }, { incarnation: 1, seq: 99 }, 1],
      ['a lower incarnation under a lower seq', { incarnation: 1, seq: 99 }, { incarnation: 2, seq: 0 }, -1],
      ['wall-clock incarnations one ms apart', { incarnation: 1_700_000_000_001, seq: 0 }, { incarnation: 1_700_000_000_000, seq: 5 }, 1],
      ['seq 0 against seq 1', { incarnation: 7, seq: 0 }, { incarnation: 7, seq: 1 }, -1]
    ]
    for (const [name, a, b, expected] of cases) {
      it(`should order ${name} as ${expected}`, () => {
        assert.equal(compareVersion(a, b), expected)
        assert.equal(compareVersion(b, a), -expected || 0, 'antisymmetric')
      })
    }
  })

  describe('applyEvent', () => {
    describe('announce', () => {
      runRows([
        {
          name: 'add an unknown peer that announces alive as joined',
          event: announce('A', 100),
          state: 'alive',
          reason: 'joined',
          changes: ['joined A (alive)'],
          stateSince: 100,
          lastHeard: 100
        },
        {
          name: 'add an unknown peer that announces leaving as left',
          event: announce('A', 100, { state: 'leaving' }),
          state: 'left',
          changes: ['joined A (left)'],
          stateSince: 100
        },
        {
          name: 'take a heartbeat with a newer seq without a change event when only seq differs',
          setup: [announce('A', 0, { seq: 1 })],
          event: announce('A', 300, { seq: 2 }),
          state: 'alive',
          reason: 'joined',
          changes: [],
          stateSince: 0,
          lastHeard: 300,
          check: m => assert.equal(m.announcement.seq, 2)
        },
        {
          name: 'emit updated when a newer announcement changes the load',
          setup: [announce('A', 0, { seq: 1 })],
          event: announce('A', 300, { seq: 2, load: { active: 2, queued: 1, capacity: 4 } }),
          state: 'alive',
          changes: ['updated A'],
          lastHeard: 300,
          check: m => assert.deepEqual(m.announcement.load, { active: 2, queued: 1, capacity: 4 })
        },
        {
          name: 'emit updated when a newer announcement changes the models',
          setup: [announce('A', 0, { seq: 1 })],
          event: announce('A', 300, { seq: 2, models: ['llama3.2:3b', 'qwen2.5:7b'] }),
          state: 'alive',
          changes: ['updated A'],
          check: m => assert.deepEqual(m.announcement.models, ['llama3.2:3b', 'qwen2.5:7b'])
        },
        {
          name: 'emit updated when a newer announcement changes the tier',
          setup: [announce('A', 0, { seq: 1 })],
          event: announce('A', 300, { seq: 2, tier: 2 }),
          state: 'alive',
          changes: ['updated A'],
          check: m => assert.equal(m.announcement.tier, 2)
        },
        {
          name: 'emit updated when a newer announcement disables the peer',
          setup: [announce('A', 0, { seq: 1 })],
          event: announce('A', 300, { seq: 2, enabled: false }),
          state: 'alive',
          changes: ['updated A'],
          check: m => assert.equal(m.announcement.enabled, false)
        },
        {
          name: 'ignore a duplicate announcement (same incarnation and seq)',
          setup: [announce('A', 0, { seq: 3 })],
          event: announce('A', 300, { seq: 3, load: { active: 4, queued: 0, capacity: 4 } }),
          state: 'alive',
          changes: [],
          unchanged: true,
          lastHeard: 0,
          check: m => assert.equal(m.announcement.load.active, 0)
        },
        {
          name: 'ignore a stale announcement (older seq)',
          setup: [announce('A', 0, { seq: 5 })],
          event: announce('A', 300, { seq: 4, tier: 1 }),
          state: 'alive',
          changes: [],
          unchanged: true,
          lastHeard: 0,
          check: m => assert.equal(m.announcement.seq, 5)
        },
        {
          name: 'ignore an announcement from an older incarnation even with a higher seq',
          setup: [announce('A', 0, { incarnation: 2, seq: 1 })],
          event: announce('A', 300, { incarnation: 1, seq: 99 }),
          state: 'alive',
          changes: [],
          unchanged: true,
          check: m => assert.equal(m.announcement.incarnation, 2)
        },
        {
          name: 'make an alive peer that announces leaving left',
          setup: [announce('A', 0, { seq: 1 })],
          event: announce('A', 300, { seq: 2, state: 'leaving' }),
          state: 'left',
          reason: 'left the cluster',
          changes: ['A alive→left'],
          stateSince: 300,
          lastHeard: 0
        },
        {
          name: 'make a suspect peer that announces leaving left',
          setup: [announce('A', 0, { seq: 1 }), disconnected('A', 100)],
          event: announce('A', 300, { seq: 2, state: 'leaving' }),
          state: 'left',
          reason: 'left the cluster',
          changes: ['A suspect→left']
        },
        {
          name: 'ignore a stale leaving announcement',
          setup: [announce('A', 0, { seq: 5 })],
          event: announce('A', 300, { seq: 4, state: 'leaving' }),
          state: 'alive',
          changes: [],
          unchanged: true
        },
        {
          name: 'leave other members alone when one peer joins',
          setup: [announce('B', 0)],
          event: announce('A', 100),
          peer: 'B',
          state: 'alive',
          changes: ['joined A (alive)'],
          lastHeard: 0
        }
      ])

      // BUG (src/membership/view.ts, applyAnnouncement): a first-hand leaving announcement from an
      // unknown peer gets the reason 'reported left', as if a third party had said so. Expected the
      // same reason as a known peer that leaves: 'left the cluster'.
      it('should give an unknown peer that announces leaving first-hand the reason \'left the cluster\'', () => {
        const { view } = applyEvent(emptyView(PEERS.self), announce('A', 100, { state: 'leaving' }), T)
        assert.equal(view.members.get(PEERS.A)?.reason, 'left the cluster')
      })
    })

    describe('disconnected', () => {
      runRows([
        {
          name: 'make an alive peer suspect',
          setup: [announce('A', 0)],
          event: disconnected('A', 200),
          state: 'suspect',
          reason: 'connection closed',
          changes: ['A alive→suspect'],
          stateSince: 200,
          lastHeard: 0
        },
        {
          name: 'not change a suspect peer',
          setup: [announce('A', 0), probeFailed('A', SUSPECT_AFTER + 1)],
          event: disconnected('A', 600),
          state: 'suspect',
          reason: 'no answer to probes',
          changes: [],
          unchanged: true,
          stateSince: SUSPECT_AFTER + 1
        },
        {
          name: 'not change a dead peer',
          setup: [announce('A', 0), unreachable('A', 100)],
          event: disconnected('A', 200),
          state: 'dead',
          reason: 'ping timed out',
          changes: [],
          unchanged: true
        },
        {
          name: 'not change a left peer',
          setup: [announce('A', 0, { state: 'leaving' })],
          event: disconnected('A', 200),
          state: 'left',
          changes: [],
          unchanged: true
        },
        {
          name: 'not add an unknown peer',
          event: disconnected('A', 200),
          state: 'absent',
          changes: [],
          unchanged: true
        }
      ])
    })

    describe('unreachable', () => {
      runRows([
        {
          name: 'make an alive peer dead with the ping failure as reason',
          setup: [announce('A', 0)],
          event: unreachable('A', 200, 'ping failed: connection refused'),
          state: 'dead',
          reason: 'ping failed: connection refused',
          changes: ['A alive→dead'],
          stateSince: 200
        },
        {
          name: 'make a suspect peer dead',
          setup: [announce('A', 0), disconnected('A', 100)],
          event: unreachable('A', 200),
          state: 'dead',
          reason: 'ping timed out',
          changes: ['A suspect→dead'],
          stateSince: 200
        },
        {
          name: 'not change a dead peer (the first reason stays)',
          setup: [announce('A', 0), unreachable('A', 100, 'ping failed: first')],
          event: unreachable('A', 200, 'ping failed: second'),
          state: 'dead',
          reason: 'ping failed: first',
          changes: [],
          unchanged: true,
          stateSince: 100
        },
        {
          name: 'not change a left peer',
          setup: [announce('A', 0, { state: 'leaving' })],
          event: unreachable('A', 200),
          state: 'left',
          changes: [],
          unchanged: true
        },
        {
          name: 'not add an unknown peer',
          event: unreachable('A', 200),
          state: 'absent',
          changes: [],
          unchanged: true
        }
      ])
    })

    describe('reachable', () => {
      runRows([
        {
          name: 'bring a suspect peer back to alive',
          setup: [announce('A', 0), disconnected('A', 100)],
          event: reachable('A', 300),
          state: 'alive',
          reason: 'ping ok',
          changes: ['A suspect→alive'],
          stateSince: 300,
          lastHeard: 300
        },
        {
          name: 'refresh lastHeard of an alive peer without a change event',
          setup: [announce('A', 0)],
          event: reachable('A', LAST_HEARD_RESOLUTION_MS),
          state: 'alive',
          reason: 'joined',
          changes: [],
          stateSince: 0,
          lastHeard: LAST_HEARD_RESOLUTION_MS
        },
        {
          name: 'leave lastHeard of an alive peer alone (the same view) when it is fresher than the resolution',
          setup: [announce('A', 0)],
          event: reachable('A', LAST_HEARD_RESOLUTION_MS - 1),
          state: 'alive',
          changes: [],
          unchanged: true,
          lastHeard: 0
        },
        {
          name: 'not revive a dead peer',
          setup: [announce('A', 0), unreachable('A', 100)],
          event: reachable('A', 300),
          state: 'dead',
          changes: [],
          unchanged: true,
          lastHeard: 0
        },
        {
          name: 'not revive a left peer',
          setup: [announce('A', 0, { state: 'leaving' })],
          event: reachable('A', 300),
          state: 'left',
          changes: [],
          unchanged: true
        },
        {
          name: 'not add an unknown peer',
          event: reachable('A', 300),
          state: 'absent',
          changes: [],
          unchanged: true
        }
      ])
    })

    describe('tick', () => {
      runRows([
        {
          name: 'keep a silent peer alive however long the silence (SWIM: only failed probes suspect)',
          setup: [announce('A', 0)],
          event: tick(LONG_SILENCE),
          state: 'alive',
          changes: [],
          lastHeard: 0
        },
        {
          name: 'keep a peer alive after a successful ping and a long silence',
          setup: [announce('A', 0), reachable('A', 1_400)],
          event: tick(1_400 + LONG_SILENCE),
          state: 'alive',
          changes: [],
          lastHeard: 1_400
        },
        {
          name: `keep a peer suspect for exactly suspicionTimeoutMs (${SUSPICION} ms)`,
          setup: [announce('A', 0), disconnected('A', 100)],
          event: tick(100 + SUSPICION),
          state: 'suspect',
          changes: []
        },
        {
          name: 'declare a suspect peer dead after the suspicion timeout',
          setup: [announce('A', 0), disconnected('A', 100)],
          event: tick(100 + SUSPICION + 1),
          state: 'dead',
          reason: 'suspicion timeout',
          changes: ['A suspect→dead'],
          stateSince: 100 + SUSPICION + 1
        },
        {
          name: 'time suspicion from when the peer became suspect, not from when it was last heard',
          setup: [announce('A', 0), disconnected('A', LONG_SILENCE)],
          event: tick(LONG_SILENCE + SUSPICION),
          state: 'suspect',
          changes: []
        },
        {
          name: 'keep a dead peer listed for exactly retentionMs',
          setup: [announce('A', 0), unreachable('A', 100)],
          event: tick(100 + RETENTION),
          state: 'dead',
          changes: []
        },
        {
          name: 'remove a dead peer after retentionMs',
          setup: [announce('A', 0), unreachable('A', 100)],
          event: tick(100 + RETENTION + 1),
          state: 'absent',
          changes: ['removed A']
        },
        {
          name: 'keep a left peer listed for exactly retentionMs',
          setup: [announce('A', 100, { state: 'leaving' })],
          event: tick(100 + RETENTION),
          state: 'left',
          changes: []
        },
        {
          name: 'remove a left peer after retentionMs',
          setup: [announce('A', 100, { state: 'leaving' })],
          event: tick(100 + RETENTION + 1),
          state: 'absent',
          changes: ['removed A']
        },
        {
          name: 'declare a long-suspect peer dead instead of removing it',
          setup: [announce('A', 0), disconnected('A', 100)],
          event: tick(100 + RETENTION + 1),
          state: 'dead',
          changes: ['A suspect→dead']
        },
        {
          name: 'apply every member\'s timeout in one tick',
          setup: [
            announce('A', 0),
            announce('B', 400),
            probeFailed('B', RETENTION - SUSPICION),
            announce('C', 0),
            unreachable('C', 0)
          ],
          event: tick(RETENTION + 1),
          state: 'alive',
          changes: ['B suspect→dead', 'removed C'],
          unordered: true
        },
        {
          name: 'leave an alive member alone while a suspect one turns dead',
          setup: [announce('A', 0), announce('B', 400), probeFailed('A', SUSPECT_AFTER)],
          event: tick(SUSPECT_AFTER + SUSPICION + 1),
          peer: 'B',
          state: 'alive',
          changes: ['A suspect→dead']
        },
        {
          name: 'do nothing on an empty view',
          event: tick(1_000_000),
          state: 'absent',
          changes: [],
          unchanged: true
        }
      ])
    })

    describe('refutation and re-join', () => {
      runRows([
        {
          name: 'refute suspicion with a newer seq',
          setup: [announce('A', 0, { seq: 1 }), disconnected('A', 100)],
          event: announce('A', 300, { seq: 2 }),
          state: 'alive',
          reason: 'refuted: newer announcement',
          changes: ['A suspect→alive'],
          stateSince: 300,
          lastHeard: 300
        },
        {
          name: 'refute suspicion with a higher incarnation',
          setup: [announce('A', 0, { incarnation: 1, seq: 9 }), probeFailed('A', SUSPECT_AFTER + 1)],
          event: announce('A', 900, { incarnation: 2, seq: 1 }),
          state: 'alive',
          reason: 'rejoined',
          changes: ['A suspect→alive'],
          stateSince: 900,
          lastHeard: 900
        },
        {
          name: 'not refute suspicion with a duplicate announcement',
          setup: [announce('A', 0, { seq: 1 }), disconnected('A', 100)],
          event: announce('A', 300, { seq: 1 }),
          state: 'suspect',
          changes: [],
          unchanged: true
        },
        {
          name: 'revive a dead peer on a newer announcement',
          setup: [announce('A', 0, { seq: 1 }), unreachable('A', 100)],
          event: announce('A', 300, { seq: 2 }),
          state: 'alive',
          reason: 'refuted: newer announcement',
          changes: ['A dead→alive'],
          stateSince: 300,
          lastHeard: 300
        },
        {
          name: 'revive a dead peer that restarted (higher incarnation) as rejoined',
          setup: [announce('A', 0, { incarnation: 1, seq: 7 }), unreachable('A', 100)],
          event: announce('A', 300, { incarnation: 2, seq: 1 }),
          state: 'alive',
          reason: 'rejoined',
          changes: ['A dead→alive']
        },
        {
          name: 'not revive a dead peer on a stale announcement',
          setup: [announce('A', 0, { seq: 2 }), unreachable('A', 100)],
          event: announce('A', 300, { seq: 1 }),
          state: 'dead',
          changes: [],
          unchanged: true
        },
        {
          name: 'keep a left peer left on a newer alive announcement of the same incarnation',
          setup: [announce('A', 0, { seq: 1 }), announce('A', 100, { seq: 2, state: 'leaving' })],
          event: announce('A', 300, { seq: 3 }),
          state: 'left',
          reason: 'left the cluster',
          changes: [],
          stateSince: 100,
          lastHeard: 0
        },
        {
          name: 're-join a left peer that announces a higher incarnation',
          setup: [announce('A', 0, { incarnation: 1, seq: 1 }), announce('A', 100, { incarnation: 1, seq: 2, state: 'leaving' })],
          event: announce('A', 300, { incarnation: 2, seq: 1 }),
          state: 'alive',
          reason: 'rejoined',
          changes: ['A left→alive'],
          stateSince: 300,
          lastHeard: 300
        },
        {
          name: 'keep a restarted alive peer alive and report the new incarnation as updated',
          setup: [announce('A', 0, { incarnation: 1, seq: 40 })],
          event: announce('A', 300, { incarnation: 2, seq: 1 }),
          state: 'alive',
          changes: ['updated A'],
          lastHeard: 300,
          check: m => assert.equal(m.announcement.incarnation, 2)
        }
      ])

      // BUG (src/membership/view.ts): `reasonForRevival` is only called when the state changes,
      // so its 'restarted' branch (alive peer, higher incarnation) is unreachable: a restarted
      // peer keeps its old reason ('joined'). Expected: reason 'restarted'.
      it('should give a peer that restarted while alive the reason \'restarted\'', () => {
        const before = build([announce('A', 0, { incarnation: 1, seq: 40 })])
        const { view } = applyEvent(before, announce('A', 300, { incarnation: 2, seq: 1 }), T)
        assert.equal(view.members.get(PEERS.A)?.reason, 'restarted')
      })
    })

    describe('self', () => {
      runRows([
        {
          name: 'never time out self',
          setup: [announce('self', 0)],
          event: tick(SUSPECT_AFTER + SUSPICION + RETENTION + 1),
          peer: 'self',
          state: 'alive',
          changes: [],
          unchanged: true
        },
        {
          name: 'never suspect self when a connection closes',
          setup: [announce('self', 0)],
          event: disconnected('self', 100),
          peer: 'self',
          state: 'alive',
          changes: [],
          unchanged: true
        },
        {
          name: 'never declare self dead when a ping fails',
          setup: [announce('self', 0)],
          event: unreachable('self', 100),
          peer: 'self',
          state: 'alive',
          changes: [],
          unchanged: true
        },
        {
          name: 'never remove self from its own view after leaving',
          setup: [announce('self', 0, { state: 'leaving' })],
          event: tick(RETENTION + 1),
          peer: 'self',
          state: 'left',
          changes: [],
          unchanged: true
        },
        {
          name: 'still time out other members while skipping self',
          setup: [announce('self', 0), announce('A', 0), probeFailed('A', 0)],
          event: tick(SUSPICION + 1),
          peer: 'self',
          state: 'alive',
          changes: ['A suspect→dead']
        }
      ])
    })

    describe('second-hand announcements (reportedState)', () => {
      runRows([
        {
          name: 'ignore an unknown peer reported dead (it may be one we already dropped)',
          event: announce('A', 100, {}, 'dead'),
          state: 'absent',
          changes: [],
          unchanged: true
        },
        {
          name: 'add an unknown peer reported suspect as suspect',
          event: announce('A', 100, {}, 'suspect'),
          state: 'suspect',
          reason: 'reported suspect',
          changes: ['joined A (suspect)']
        },
        {
          name: 'add an unknown peer reported alive as alive',
          event: announce('A', 100, {}, 'alive'),
          state: 'alive',
          reason: 'joined',
          changes: ['joined A (alive)'],
          lastHeard: 100
        },
        {
          name: 'ignore an unknown peer whose reported announcement is leaving',
          event: announce('A', 100, { state: 'leaving' }, 'alive'),
          state: 'absent',
          changes: [],
          unchanged: true
        },
        {
          name: 'keep a known alive peer reported suspect alive but take its newer fields',
          setup: [announce('A', 0, { seq: 1 })],
          event: announce('A', 300, { seq: 2, load: { active: 3, queued: 2, capacity: 4 } }, 'suspect'),
          state: 'alive',
          reason: 'joined',
          changes: ['updated A'],
          stateSince: 0,
          check: m => {
            assert.equal(m.announcement.seq, 2)
            assert.deepEqual(m.announcement.load, { active: 3, queued: 2, capacity: 4 })
          }
        },
        {
          name: 'keep a known alive peer reported dead alive',
          setup: [announce('A', 0, { seq: 1 })],
          event: announce('A', 300, { seq: 2 }, 'dead'),
          state: 'alive',
          changes: [],
          check: m => assert.equal(m.announcement.seq, 2)
        },
        {
          name: 'ignore a stale second-hand report about a known peer',
          setup: [announce('A', 0, { seq: 5 })],
          event: announce('A', 300, { seq: 4 }, 'dead'),
          state: 'alive',
          changes: [],
          unchanged: true
        },
        {
          name: 'keep a known suspect peer reported suspect with a newer version suspect',
          setup: [announce('A', 0, { seq: 1 }), disconnected('A', 100)],
          event: announce('A', 300, { seq: 2 }, 'suspect'),
          state: 'suspect',
          reason: 'connection closed',
          changes: [],
          stateSince: 100
        },
        {
          name: 'refute suspicion of a known suspect peer reported alive with a newer version',
          setup: [announce('A', 0, { seq: 1 }), disconnected('A', 100)],
          event: announce('A', 300, { seq: 2 }, 'alive'),
          state: 'alive',
          reason: 'refuted',
          changes: ['A suspect→alive'],
          lastHeard: 300
        },
        {
          name: 'make a known peer left when a third party relays its newer leaving announcement',
          setup: [announce('A', 0, { seq: 1 })],
          event: announce('A', 300, { seq: 2, state: 'leaving' }, 'left'),
          state: 'left',
          reason: 'left the cluster',
          changes: ['A alive→left']
        },
        {
          name: 're-join a known dead peer reported alive with a higher incarnation',
          setup: [announce('A', 0, { incarnation: 1 }), unreachable('A', 100)],
          event: announce('A', 300, { incarnation: 2 }, 'alive'),
          state: 'alive',
          reason: 'rejoined',
          changes: ['A dead→alive']
        }
      ])
    })

    it('should not mutate the view it is given', () => {
      const before = build([announce('A', 0), announce('B', 0), unreachable('B', 50)])
      const snapshot = structuredClone([...before.members.entries()])
      const events = [
        announce('A', 100, { seq: 2, tier: 1 }),
        announce('C', 100),
        disconnected('A', 200),
        unreachable('A', 300),
        tick(50 + RETENTION + 1)
      ]
      for (const event of events) {
        const { view } = applyEvent(before, event, T)
        assert.notEqual(view, before, `${event.type} should return a new view`)
      }
      assert.deepEqual([...before.members.entries()], snapshot)
      assert.equal(before.self, PEERS.self)
    })
  })

  describe('bound on members (maxMembers)', () => {
    const BOUND = { ...T, maxMembers: 3 }
    const full = (): ClusterView => applyEvents(emptyView(PEERS.self), [announce('self', 0), announce('A', 0), announce('B', 1)], BOUND).view

    it('should refuse a newcomer when every member is alive or suspect', () => {
      const before = applyEvent(full(), probeFailed('A', 10), BOUND).view
      const { view, changes } = applyEvent(before, announce('C', 20), BOUND)
      assert.equal(view, before, 'refused: the view is unchanged')
      assert.deepEqual(changes, [])
      assert.equal(view.members.size, 3)
    })

    it('should make room by removing the member longest dead or gone, never self', () => {
      const before = applyEvents(full(), [unreachable('B', 10), announce('A', 20, { seq: 2, state: 'leaving' })], BOUND).view
      assert.deepEqual([...before.members.values()].map(m => m.state), ['alive', 'left', 'dead'])
      const { view, changes } = applyEvent(before, announce('C', 30), BOUND)
      assert.deepEqual(changes.map(describeChange), ['removed B', 'joined C (alive)'], 'B died (10) before A left (20)')
      assert.equal(view.members.size, 3)
      assert.deepEqual([...view.members.keys()].map(alias).sort(), ['A', 'C', 'self'])
    })

    it('should still take news of members it holds when full', () => {
      const { view, changes } = applyEvent(full(), announce('A', 30, { seq: 2, tier: 1 }), BOUND)
      assert.deepEqual(changes.map(describeChange), ['updated A'])
      assert.equal(view.members.get(PEERS.A)?.announcement.tier, 1)
    })

    it('should never hold more than the bound, whatever arrives', () => {
      let view = full()
      for (let i = 0; i < 40; i++) {
        const who = (['A', 'B', 'C'] as const)[i % 3] as Alias
        const event = i % 4 === 0 ? unreachable(who, i) : i % 4 === 1 ? tick(i + RETENTION * (i % 8 === 1 ? 2 : 0)) : announce(who, i, { incarnation: 1 + i })
        view = applyEvent(view, event, BOUND).view
        assert.ok(view.members.size <= 3, `step ${i}: ${view.members.size} members`)
      }
    })
  })

  describe('applyEvents', () => {
    it('should return the same view and no changes for no events', () => {
      const view = build([announce('A', 0)])
      const result = applyEvents(view, [], T)
      assert.equal(result.view, view)
      assert.deepEqual(result.changes, [])
    })

    it('should collect the changes of a whole lifecycle in order', () => {
      const { view, changes } = applyEvents(emptyView(PEERS.self), [
        announce('A', 0, { seq: 1 }),
        announce('A', 100, { seq: 2 }), // heartbeat: no change
        announce('A', 200, { seq: 3, load: { active: 1, queued: 0, capacity: 4 } }),
        disconnected('A', 300),
        reachable('A', 350),
        probeFailed('A', 350 + SUSPECT_AFTER + 1),
        tick(350 + SUSPECT_AFTER + 1 + SUSPICION + 1),
        tick(350 + SUSPECT_AFTER + 1 + SUSPICION + 1 + RETENTION + 1)
      ], T)
      assert.deepEqual(changes.map(describeChange), [
        'joined A (alive)',
        'updated A',
        'A alive→suspect',
        'A suspect→alive',
        'A alive→suspect',
        'A suspect→dead',
        'removed A'
      ])
      assert.equal(view.members.size, 0)
    })

    it('should give the same result as applying the events one by one', () => {
      const events = [
        announce('self', 0),
        announce('A', 0),
        announce('B', 10, {}, 'suspect'),
        announce('C', 20, { state: 'leaving' }),
        announce('A', 100, { seq: 2, models: ['m'] }),
        disconnected('A', 150),
        tick(700),
        announce('B', 800, { incarnation: 2 }),
        tick(1_000)
      ]
      let view = emptyView(PEERS.self)
      const changes: ViewChange[] = []
      for (const event of events) {
        const result = applyEvent(view, event, T)
        view = result.view
        changes.push(...result.changes)
      }
      const folded = applyEvents(emptyView(PEERS.self), events, T)
      assert.deepEqual(folded.view, view)
      assert.deepEqual(folded.changes, changes)
      // Sanity: the sequence did something to every member.
      assert.deepEqual(
        [...folded.view.members.values()].map(m => `${alias(m.peerId)}:${m.state}`),
        ['self:alive', 'A:dead', 'B:alive', 'C:left']
      )
    })

    it('should not bring back a member dropped after retention when a view still reports it dead', () => {
      const { view, changes } = applyEvents(emptyView(PEERS.self), [
        announce('A', 0),
        disconnected('A', 100),
        tick(100 + T.suspicionTimeoutMs + 1),
        tick(100 + T.suspicionTimeoutMs + 1 + RETENTION + 1),
        announce('A', 100 + T.suspicionTimeoutMs + 1 + RETENTION + 2, {}, 'dead')
      ], T)
      assert.deepEqual(changes.map(describeChange), ['joined A (alive)', 'A alive→suspect', 'A suspect→dead', 'removed A'])
      assert.equal(view.members.has(PEERS.A), false)
    })
  })
})
