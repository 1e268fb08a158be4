import { access, mkdir, writeFile } from 'node:fs/promises'
import { dirname, join, resolve } from 'node:path'
import { writeMeshKey } from '../mesh/mesh-key.js'
import { CommandFailedError } from './errors.js'

export interface InitFlags {
  output: string
  force?: boolean
  json?: boolean
}

export const MESH_KEY_FILE = 'mesh.key'

/** The seed's cluster shape, commented so a new user can fill it in without the docs. */
export const CLUSTER_TEMPLATE = `# harombe-peer cluster file: one file describes the whole cluster. Copy it and mesh.key to
# every machine and start each with its own entry's name:
#   npx harombe-peer start --config cluster.yaml --name <its name> --mesh-key mesh.key
# Flags given on the command line win over the entry.
cluster:
  # Host that CLI commands talk to when given this file (status --config cluster.yaml; also test,
  # models, complete, pull): the port and auth_token of the node on this host, else port 8000.
  coordinator:
    host: localhost

  # How peers find each other: mdns (same LAN, no setup) or explicit (the nodes below
  # and the bootstrap multiaddrs). Bootstrap entries look like
  #   /ip4/192.0.2.10/tcp/4700/p2p/12D3KooW...   (the "mesh=" part of a peer's ready line)
  discovery:
    method: mdns
    bootstrap: []

  routing:
    prefer_local: true            # serve on this machine when it can
    fallback_strategy: graceful   # graceful: try lower tiers, then higher; strict: requested tier only
    load_balance: true            # least loaded peer within a tier

  # One entry per machine. host:port is its HTTP API; tier 0 fast, 1 medium, 2 powerful.
  # model: what the machine serves. Its backend must really have it: a peer never answers
  # under a name its backend does not list (start fails with exit 2 and says what it has).
  # Optional, read only by the machine the entry names (the others ignore them):
  #   backend: embedded | ollama | openai | none   (default embedded: the bundled tiny model)
  #   backend_url: http://127.0.0.1:11434          (ollama's default; openai needs one, e.g. .../v1)
  #   backend_key: "sk-..."  or  backend_key_env: OPENAI_API_KEY   (openai-compatible servers)
  #   model_file: models/my-model.gguf             (embedded; relative to this file)
  #   api_host: 0.0.0.0                            (default 127.0.0.1: only this machine)
  #   listen: /ip4/0.0.0.0/tcp/4700                (mesh address; one or a list)
  # enabled: false keeps a machine listed (shown as disabled) but never used.
  nodes:
    - name: laptop
      host: localhost
      port: 8000
      model: "qwen2.5:3b"
      tier: 0
      backend: ollama
      # backend_url: http://127.0.0.1:11434
    - name: workstation
      host: 192.0.2.20
      port: 8000
      model: "qwen2.5:14b"
      tier: 1
      backend: ollama
      api_host: 0.0.0.0           # other machines reach its API; set auth_token / --token then
    - name: cloud-gpu
      host: 203.0.113.42
      port: 8000
      model: "qwen2.5:32b"
      tier: 2
      auth_token: "change-me"     # the --token that peer was started with
      backend: openai
      backend_url: http://127.0.0.1:8080/v1
      # backend_key_env: GPU_API_KEY
      enabled: true
`

export async function runInit (flags: InitFlags): Promise<void> {
  const yamlFile = resolve(flags.output)
  const keyFile = join(dirname(yamlFile), MESH_KEY_FILE)
  const overwrite = flags.force === true
  if (!overwrite) {
    for (const file of [yamlFile, keyFile]) {
      if (await exists(file)) throw new CommandFailedError(`${file} already exists (use --force to overwrite)`)
    }
  }
  try {
    await mkdir(dirname(yamlFile), { recursive: true })
    await writeFile(yamlFile, CLUSTER_TEMPLATE, { flag: overwrite ? 'w' : 'wx' })
    await writeMeshKey(keyFile, { overwrite })
  } catch (err: any) {
    throw new CommandFailedError(`cannot write ${err?.path ?? yamlFile}: ${err?.code ?? err?.message}`)
  }
  if (flags.json === true) {
    process.stdout.write(JSON.stringify({ cluster_file: yamlFile, mesh_key_file: keyFile }, null, 2) + '\n')
  } else {
    process.stdout.write(`wrote ${yamlFile}\nwrote ${keyFile} (keep it secret: every peer started with it can join)\n`)
  }
}

async function exists (file: string): Promise<boolean> {
  try {
    await access(file)
    return true
  } catch {
    return false
  }
}
