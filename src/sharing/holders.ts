import { peerIdFromString } from '@libp2p/peer-id'
import type { MeshNode } from '../mesh/node.js'
import { CATALOGUE_FANOUT } from './constants.js'
import { SHORT_DIGEST_HEX } from '../util/short-digest.js'
import { fetchCatalogue } from './fetch.js'
import type { CatalogueFile } from './wire.js'

/** What the view says about another alive peer, as far as finding model files goes. */
export interface SharingMember {
  peerId: string
  name: string
  /** Announced short sha256s of the files it shares; absent when it announces none. */
  files?: string[]
  /** Announced inference load, (active + queued) / capacity. */
  load: number
}

export interface Holding {
  file: CatalogueFile
  holders: SharingMember[]
}

/** A full sha256, or a prefix of at least 12 hex digits (what users copy from a table). */
export function isHashRef (ref: string): boolean {
  return /^[0-9a-f]{12,64}$/.test(ref.toLowerCase())
}

/** Normalised for comparison: `x.gguf` and `x` are one name. */
function sameName (ref: string, name: string): boolean {
  const strip = (s: string): string => s.replace(/\.gguf$/i, '')
  return strip(ref) === strip(name)
}

export function matches (ref: string, file: CatalogueFile): boolean {
  const lower = ref.toLowerCase()
  return (isHashRef(ref) && file.sha256.startsWith(lower)) || sameName(ref, file.name)
}

/**
 * Whose catalogue to ask (pure): peers announcing the hash (for a hash ref) or announcing any file
 * (for a name). When nobody announces a fitting file, everyone: announcements may lag a fresh hash,
 * and a peer with more files than the announcement carries is still found.
 */
export function catalogueTargets (ref: string, members: SharingMember[]): SharingMember[] {
  const lower = ref.toLowerCase()
  const short = lower.slice(0, SHORT_DIGEST_HEX)
  const announced = isHashRef(ref)
    ? members.filter(m => m.files?.some(f => lower.length >= SHORT_DIGEST_HEX ? f === short : f.startsWith(lower)) === true)
    : members.filter(m => (m.files?.length ?? 0) > 0)
  return announced.length > 0 ? announced : members
}

/**
 * The file `ref` names, with its holders (pure). Several files under one name (two quantisations
 * called `model.gguf`): the one most peers hold, then the larger, so the choice is stable.
 */
export function pickHolding (ref: string, catalogues: Array<{ member: SharingMember, files: CatalogueFile[] }>): Holding | undefined {
  const bySha = new Map<string, Holding>()
  for (const { member, files } of catalogues) {
    for (const file of files) {
      if (!matches(ref, file)) continue
      const holding = bySha.get(file.sha256) ?? { file, holders: [] }
      if (!holding.holders.some(h => h.peerId === member.peerId)) holding.holders.push(member)
      bySha.set(file.sha256, holding)
    }
  }
  return [...bySha.values()].sort((a, b) => b.holders.length - a.holders.length || b.file.size - a.file.size || (a.file.sha256 < b.file.sha256 ? -1 : 1))[0]
}

export interface FoundHolders {
  holding?: Holding
  /** Names of the peers whose catalogues were asked, for the "nobody has it" message. */
  asked: string[]
  /** Peers that did not answer, with why. */
  failed: Array<{ name: string, reason: string }>
}

/** Asks the catalogues of the fitting peers (CATALOGUE_FANOUT at a time, each bounded) and picks the file. */
export async function findHolders (node: MeshNode, members: SharingMember[], ref: string, signal: AbortSignal): Promise<FoundHolders> {
  const targets = catalogueTargets(ref, members)
  const catalogues: Array<{ member: SharingMember, files: CatalogueFile[] }> = []
  const failed: Array<{ name: string, reason: string }> = []
  for (let i = 0; i < targets.length; i += CATALOGUE_FANOUT) {
    await Promise.all(targets.slice(i, i + CATALOGUE_FANOUT).map(async member => {
      try {
        const { files } = await fetchCatalogue(node, peerIdFromString(member.peerId), { signal })
        catalogues.push({ member, files })
      } catch (err: any) {
        if (signal.aborted) throw signal.reason
        failed.push({ name: member.name, reason: String(err?.message ?? err) })
      }
    }))
  }
  const holding = pickHolding(ref, catalogues)
  return { ...(holding != null ? { holding } : {}), asked: targets.map(t => t.name), failed }
}

/** Every file shared in the mesh with who holds it, from every alive peer's catalogue (the dashboard's table). */
export async function meshHoldings (node: MeshNode, members: SharingMember[], signal: AbortSignal): Promise<{ holdings: Holding[], failed: Array<{ name: string, reason: string }> }> {
  const targets = members.filter(m => (m.files?.length ?? 0) > 0)
  const bySha = new Map<string, Holding>()
  const failed: Array<{ name: string, reason: string }> = []
  await Promise.all(targets.slice(0, 64).map(async member => {
    try {
      const { files } = await fetchCatalogue(node, peerIdFromString(member.peerId), { signal })
      for (const file of files) {
        const holding = bySha.get(file.sha256) ?? { file, holders: [] }
        holding.holders.push(member)
        bySha.set(file.sha256, holding)
      }
    } catch (err: any) {
      failed.push({ name: member.name, reason: String(err?.message ?? err) })
    }
  }))
  return { holdings: [...bySha.values()].sort((a, b) => a.file.name < b.file.name ? -1 : 1), failed }
}
