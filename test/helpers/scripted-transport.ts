import type { ViewEntry } from '../../src/membership/announcement.js'
import type { SwimReply, SwimRequest } from '../../src/membership/messages.js'
import type { MembershipHandlers, MembershipTransport } from '../../src/membership/transport.js'
import type { Clock } from '../../src/membership/clock.js'

/** What a scripted peer does with a request: answer (optionally late), stay silent, or fail at once. */
export type Behaviour =
  | { answer: SwimReply, afterMs?: number }
  | 'silent'
  | { fail: string }

/**
 * A transport for table tests of the schedulers: every request is recorded, and each peer answers
 * as its script says. Silence never resolves; the caller's timeout signal rejects it.
 */
export class ScriptedTransport implements MembershipTransport {
  readonly sent: Array<{ to: string, message: SwimRequest, at: number }> = []
  readonly exchanges: string[] = []
  readonly connects: string[] = []
  /** Peers we hold no connection to, and how a dial to each goes (default: connects at once). */
  private readonly unconnected = new Map<string, { afterMs: number, fail?: string }>()
  handlers: MembershipHandlers | undefined
  private readonly scripts = new Map<string, (message: SwimRequest) => Behaviour>()

  constructor (private readonly clock: Clock, private readonly fallback: (message: SwimRequest) => Behaviour = () => ({ answer: { type: 'ack', updates: [] } })) {}

  script (peer: string, behaviour: Behaviour | ((message: SwimRequest) => Behaviour)): void {
    this.scripts.set(peer, typeof behaviour === 'function' ? behaviour : () => behaviour)
  }

  async request (to: string, message: SwimRequest, signal: AbortSignal): Promise<SwimReply> {
    this.sent.push({ to, message, at: this.clock.now() })
    const behaviour = (this.scripts.get(to) ?? this.fallback)(message)
    if (behaviour !== 'silent' && 'fail' in behaviour) throw new Error(behaviour.fail)
    return await new Promise<SwimReply>((resolve, reject) => {
      const onAbort = (): void => { reject(signal.reason) }
      if (signal.aborted) { onAbort(); return }
      signal.addEventListener('abort', onAbort, { once: true })
      if (behaviour === 'silent') return
      this.clock.setTimeout(() => {
        signal.removeEventListener('abort', onAbort)
        if (!signal.aborted) resolve(behaviour.answer)
      }, behaviour.afterMs ?? 0)
    })
  }

  async exchangeViews (to: string): Promise<ViewEntry[]> {
    this.exchanges.push(to)
    return []
  }

  handle (handlers: MembershipHandlers | undefined): void {
    this.handlers = handlers
  }

  /** Makes `peer` unconnected: a probe must dial it first, which takes `afterMs` and may fail. */
  disconnect (peer: string, dial: { afterMs: number, fail?: string } = { afterMs: 0 }): void {
    this.unconnected.set(peer, dial)
  }

  isConnected (peer: string): boolean {
    return !this.unconnected.has(peer)
  }

  async connect (peer: string, signal: AbortSignal): Promise<void> {
    this.connects.push(peer)
    const dial = this.unconnected.get(peer)
    if (dial == null) return
    await new Promise<void>((resolve, reject) => {
      const onAbort = (): void => { reject(signal.reason) }
      signal.addEventListener('abort', onAbort, { once: true })
      this.clock.setTimeout(() => {
        signal.removeEventListener('abort', onAbort)
        if (signal.aborted) return
        if (dial.fail != null) { reject(new Error(dial.fail)); return }
        this.unconnected.delete(peer)
        resolve()
      }, dial.afterMs)
    })
  }

  /** Requests of one type sent so far. */
  ofType (type: SwimRequest['type']): Array<{ to: string, message: SwimRequest, at: number }> {
    return this.sent.filter(s => s.message.type === type)
  }
}
