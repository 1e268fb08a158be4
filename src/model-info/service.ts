// Model details and running models across the mesh (issue 29). `show` asks a peer that serves the
// model (this one first, else the others in view order until one answers); `ps` asks every alive
// peer that serves a model, in parallel and bounded, and lists who did not answer.
import { peerIdFromString } from '@libp2p/peer-id'
import type { Logger } from '../log.js'
import type { MeshNode } from '../mesh/node.js'
import type { Membership } from '../membership/service.js'
import { candidatesFromView, type RouteCandidate } from '../routing/router.js'
import { NoPeerError, UnknownModelError, toCompletionError, type CompletionError } from '../completion/errors.js'
import type { NodeRef } from '../completion/service.js'
import { INFO_TIMEOUT_MS } from './bounds.js'
import { askInfo, registerInfoHandler } from './protocol.js'
import type { ModelDetails, ModelInfoSource, RunningModel } from './types.js'

export interface RunningOnPeer extends RunningModel {
  peer: NodeRef
}

export interface ModelInfoService {
  show: (model: string, signal: AbortSignal) => Promise<{ details: ModelDetails, node: NodeRef }>
  ps: (signal: AbortSignal) => Promise<{ models: RunningOnPeer[], not_answering: NodeRef[] }>
}

export interface PeerModelInfoInit {
  node: MeshNode
  membership: Membership
  /** This peer's backend; absent: a routing-only peer. */
  source?: ModelInfoSource
  models: () => string[]
  logger: Logger
}

export function createPeerModelInfo (init: PeerModelInfoInit): ModelInfoService & { start: () => Promise<void>, stop: () => Promise<void> } {
  let handler: { unregister: () => Promise<void> } | undefined
  const ref = (c: RouteCandidate): NodeRef => ({ name: c.name, peer_id: c.id, tier: c.tier })

  const localShow = async (model: string, signal: AbortSignal): Promise<ModelDetails> => {
    if (!init.models().includes(model)) throw new UnknownModelError(`this peer does not serve model "${model}"`)
    // A backend that tells nothing still answers with the name: the model is served here.
    return init.source?.show != null ? await init.source.show(model, signal) : { model }
  }
  const localPs = async (signal: AbortSignal): Promise<RunningModel[]> => {
    if (init.source?.ps != null) return await init.source.ps(signal)
    return init.models().map(model => ({ model }))
  }
  const alive = (): RouteCandidate[] => candidatesFromView(init.membership.view(), init.membership.latencies())
    .filter(c => c.enabled && c.state === 'alive' && c.models.length > 0)

  return {
    async show (model, signal) {
      const serving = alive().filter(c => c.models.includes(model)).sort((a, b) => (a.via === 'local' ? 0 : 1) - (b.via === 'local' ? 0 : 1))
      if (serving.length === 0) throw new UnknownModelError(`model '${model}' not found`)
      let last: CompletionError | undefined
      for (const c of serving) {
        try {
          if (c.via === 'local') return { details: await localShow(model, signal), node: ref(c) }
          const answer = await askInfo(init.node, peerIdFromString(c.id), { kind: 'show', model }, { signal, timeoutMs: INFO_TIMEOUT_MS })
          if (answer.type === 'show') return { details: answer.details, node: ref(c) }
        } catch (err) {
          last = toCompletionError(err)
          if (signal.aborted) throw last
          init.logger.debug({ peer: c.id }, `model details from ${c.name} failed: ${last.message}`)
        }
      }
      throw new NoPeerError(`no peer serving "${model}" told its details; last error: ${last?.message ?? 'none'}`)
    },

    async ps (signal) {
      const peers = alive()
      const answers = await Promise.all(peers.map(async c => {
        try {
          if (c.via === 'local') return { c, models: await localPs(signal) }
          const answer = await askInfo(init.node, peerIdFromString(c.id), { kind: 'ps' }, { signal, timeoutMs: INFO_TIMEOUT_MS })
          return { c, models: answer.type === 'ps' ? answer.models : undefined }
        } catch (err) {
          init.logger.debug({ peer: c.id }, `running models of ${c.name}: ${toCompletionError(err).message}`)
          return { c, models: undefined }
        }
      }))
      const models: RunningOnPeer[] = []
      const notAnswering: NodeRef[] = []
      for (const { c, models: list } of answers) {
        if (list == null) notAnswering.push(ref(c))
        else for (const m of list) models.push({ ...m, peer: ref(c) })
      }
      return { models, not_answering: notAnswering }
    },

    async start () {
      if (init.source == null) return
      handler = await registerInfoHandler(init.node, { show: localShow, ps: localPs }, { timeoutMs: INFO_TIMEOUT_MS, logger: init.logger })
    },
    async stop () {
      await handler?.unregister()
      handler = undefined
    }
  }
}
