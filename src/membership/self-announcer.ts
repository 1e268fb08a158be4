import { isOversize } from './announcement.js'
import { compareVersion } from './view.js'
import { addressesChanged, changeOf } from './carriers.js'
import { MAX_ANNOUNCEMENT_BYTES } from '../mesh/constants.js'
import type { Announcement } from './types.js'
import type { Logger } from '../log.js'

/**
 * What this peer says about itself: the announcement's own fields (documented there) without
 * identity, versions, addresses and signature, which membership adds; digests and files are left
 * out of the announcement when empty.
 */
export type SelfDescription = Pick<Announcement, 'name' | 'wanted_name' | 'models' | 'digests' | 'files' | 'unserved' | 'tier' | 'enabled' | 'load' | 'version'> & {
  apiPort: number
}

/** Signs our announcements and checks others' (the simulator's is a stand-in; the peer's is Ed25519). */
export interface AnnouncementSigner {
  sign: (ann: Announcement) => Promise<Announcement>
  verify: (ann: Announcement) => Promise<boolean>
}

export interface SelfAnnouncerInit {
  selfId: string
  incarnation: number
  self: SelfDescription
  addrs: () => string[]
  signer: AnnouncementSigner
  logger: Logger
}

/**
 * Our own announcement: what we say about ourselves and its version, (incarnation, seq). Each new
 * version is signed in call order, so a slower signature never lets an older one win.
 */
export class SelfAnnouncer {
  private description: SelfDescription
  private seq = 0
  private signing: Promise<unknown> = Promise.resolve()
  /** The newest signed announcement. */
  current?: Announcement

  constructor (private readonly init: SelfAnnouncerInit) {
    this.description = { ...init.self }
  }

  /** The version others must have moved past for a verdict about us to be stale. */
  version (): { incarnation: number, seq: number } {
    return this.current ?? { incarnation: this.init.incarnation, seq: this.seq }
  }

  /** Applies `patch`; says what it changed (only a change is news, and a load change is a lesser one). */
  update (patch: Partial<SelfDescription>): 'none' | 'load' | 'change' {
    const next = { ...this.description, ...patch }
    const change = changeOf(this.description, next)
    if (change !== 'none') this.description = next
    return change
  }

  /** Whether the addresses we would announce now differ from the ones in our newest announcement. */
  addressesChanged (): boolean {
    return addressesChanged(this.current, this.addrs())
  }

  private addrs (): string[] {
    // Eight fit the 4 KiB with room for models; more are rarely reachable anyway (one per interface).
    return this.init.addrs().slice(0, 8)
  }

  /** A newer signed announcement, or undefined when it could not be made (oversize, signing failed). */
  async next (state: Announcement['state'] = 'alive'): Promise<Announcement | undefined> {
    const d = this.description
    const unsigned: Announcement = {
      peer_id: this.init.selfId,
      name: d.name,
      incarnation: this.init.incarnation,
      seq: ++this.seq,
      state,
      models: d.models,
      ...(d.digests != null && Object.keys(d.digests).length > 0 ? { digests: d.digests } : {}),
      ...(d.files != null && d.files.length > 0 ? { files: d.files } : {}),
      ...(d.unserved != null ? { unserved: d.unserved } : {}),
      ...(d.wanted_name != null ? { wanted_name: d.wanted_name } : {}),
      tier: d.tier,
      enabled: d.enabled,
      load: d.load,
      api_port: d.apiPort,
      addrs: this.addrs(),
      version: d.version
    }
    if (isOversize(unsigned)) {
      // Every peer would drop it: say so here, loudly, instead.
      this.init.logger.error(`not announced: our announcement is over the ${MAX_ANNOUNCEMENT_BYTES}-byte limit (too many models or addresses?)`)
      return undefined
    }
    const signed = this.signing.then(async () => await this.init.signer.sign(unsigned))
    this.signing = signed.catch(() => {})
    let ann: Announcement
    try {
      ann = await signed
    } catch (err: any) {
      this.init.logger.warn({ err }, 'announcement not signed')
      return undefined
    }
    if (this.current != null && compareVersion(ann, this.current) <= 0) return undefined
    this.current = ann
    return ann
  }
}
