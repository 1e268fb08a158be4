import type { ModelInfo } from '../completion/service.js'
import { fetchJson, tokenFrom } from './http-get.js'
import { renderTable } from './table.js'

export interface ModelsFlags {
  api: string
  token?: string
  json?: boolean
}

const MODEL_LIST = { what: 'a model list', test: (body: any): boolean => Array.isArray(body?.models) }

/** Every model served by an alive peer, with the peers and tiers that serve it. */
export async function runModels (flags: ModelsFlags): Promise<void> {
  const { models } = await fetchJson<{ models: ModelInfo[] }>(flags.api, '/api/models', { token: tokenFrom(flags.token), expect: MODEL_LIST })
  if (flags.json === true) {
    process.stdout.write(JSON.stringify(models, null, 2) + '\n')
    return
  }
  if (models.length === 0) {
    process.stdout.write('no alive peer serves a model yet\n')
    return
  }
  const rows = models.map(m => [m.name, m.nodes.map(n => n.name).join(', '), [...new Set(m.nodes.map(n => n.tier))].sort().join(', ')])
  process.stdout.write(renderTable(['MODEL', 'PEERS', 'TIERS'], rows) + '\n')
}
