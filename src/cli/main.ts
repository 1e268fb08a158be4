import '../polyfill.js'
import { Command, CommanderError, Option } from 'commander'
import { VERSION } from '../version.js'
import { describeError, exitCodeFor, EXIT_USAGE } from './errors.js'
import { DEFAULT_API, DEFAULT_WATCH_INTERVAL_MS } from './defaults.js'
import { DEFAULT_MAX_TOKENS_CAP, DEFAULT_REQUEST_TIMEOUT_MS } from '../config/constants.js'

// The bin only parses and dispatches; each command is imported lazily, so `status` does not load libp2p.

const debug = process.argv.includes('--debug')

function fail (err: unknown): never {
  process.stderr.write(describeError(err, debug) + '\n')
  process.exit(exitCodeFor(err))
}

const program = new Command()
  .name('harombe-peer')
  .description('A peer-to-peer LLM mesh: every machine runs the same peer and any peer routes requests.')
  .version(VERSION)
  .option('--debug', 'print stack traces for unexpected errors')
  .showHelpAfterError('(run with --help for usage)')
  .addHelpText('after', `
Commands that talk to a peer (status, models, test, complete, pull) take --api <url> (default
${DEFAULT_API}, or with --config <cluster.yaml> its coordinator.host) and --token <token> (or
HAROMBE_TOKEN); every command takes --json.
Exit codes: 0 ok, 1 operation failed, 2 usage or config error.`)
  .exitOverride()

const collect = (value: string, previous: string[] = []): string[] => [...previous, value]

const CONFIG_HELP = 'cluster YAML: talk to its coordinator.host (with that node\'s port and auth_token) unless --api is given'

/** With --config and no --api typed: the cluster file's coordinator (loaded only then). */
async function apiOptions<T extends { api: string, token?: string, config?: string }> (options: T, command: Command): Promise<T> {
  if (options.config == null) return options
  const { resolveApiFlags } = await import('./cluster-api.js')
  return await resolveApiFlags(options, command.getOptionValueSource('api') === 'cli')
}

function addStatus (parent: Command): Command {
  return parent.command('status')
    .description('show every peer in the view and every node of the cluster file: state, model, tier, load, latency; exit 1 if an enabled one is not answering')
    .option('--api <url>', 'any peer\'s HTTP API', DEFAULT_API)
    .option('--token <token>', 'bearer token (env HAROMBE_TOKEN)')
    .option('--json', 'print the view as JSON (with --watch: one JSON object per line per update)')
    .option('--watch', 'keep the table live, redrawn on every view change; Ctrl-C stops (exit 0)')
    .option('--interval <ms>', `with --watch: refresh at least this often (default ${DEFAULT_WATCH_INTERVAL_MS})`)
    .option('--config <file>', CONFIG_HELP)
    .addHelpText('after', `
Colours state words on a terminal; NO_COLOR turns that off, FORCE_COLOR on.
Nodes of the peer's cluster file are rows too, reachable or not (SOURCE file); a node that is
also in the mesh is one row (SOURCE file+mesh).

Examples:
  $ harombe-peer status
  $ harombe-peer status --watch --api http://192.0.2.20:8000
  $ harombe-peer status --json | jq -c '.nodes[] | [.name, .state]'
  $ harombe-peer status --watch --json | jq -c '.peers[] | [.name, .state]'`)
    .action(async (options, command: Command) => {
      const { runStatus } = await import('./status.js')
      process.exitCode = await runStatus(await apiOptions(options, command))
    })
}

function addInit (parent: Command): Command {
  return parent.command('init')
    .description('write a commented cluster YAML template and a fresh mesh key file next to it')
    .option('--output <file>', 'where to write the YAML', 'cluster.yaml')
    .option('--force', 'overwrite existing files')
    .option('--json', 'print the paths written as JSON')
    .action(async (options) => {
      const { runInit } = await import('./init.js')
      await runInit(options)
    })
}

function addTest (parent: Command): Command {
  return parent.command('test')
    .description('check every peer and every cluster-file node: round trip and a one-token completion pinned to it; exit 1 if any enabled one fails')
    .option('--api <url>', 'any peer\'s HTTP API', DEFAULT_API)
    .option('--token <token>', 'bearer token (env HAROMBE_TOKEN)')
    .option('--json', 'print the report as JSON: {ok, peers: [...]}')
    .option('--config <file>', CONFIG_HELP)
    .action(async (options, command: Command) => {
      const { runTest } = await import('./test-peers.js')
      process.exitCode = await runTest(await apiOptions(options, command))
    })
}

program.command('start')
  .description('run a peer: join the mesh, announce this machine, serve the HTTP API')
  .option('--name <name>', 'peer name (default: hostname, or the entry in --config)')
  .option('--tier <tier>', 'tier this peer serves: 0 fast, 1 medium, 2 powerful (default 0)')
  .option('--backend <backend>', 'repeatable: ollama[=URL] | openai=URL | embedded[=file.gguf] | none, each with optional ,capacity=N (default: detect Ollama, llama-server, LM Studio here; the embedded tiny model when none answers)', collect)
  .option('--backend-url <url>', 'backend base URL (ollama default http://127.0.0.1:11434)')
  .option('--backend-key <key>', 'API key for the openai backend (env HAROMBE_BACKEND_KEY)')
  .option('--model <name...>', 'model name(s) to serve (default: all the backend lists)')
  .option('--model-file <path>', 'GGUF file for the embedded backend')
  .option('--no-prompt-cache', 'embedded: clear each sequence after every request instead of reusing the longest matching token prefix of an earlier prompt')
  .option('--api-host <host>', 'HTTP API host (default 127.0.0.1)')
  .option('--api-port <port>', 'HTTP API port; 0 = any free port (default 8000)')
  .option('--listen <multiaddr>', 'mesh listen address, repeatable (default /ip4/0.0.0.0/tcp/4700)', collect)
  .option('--bootstrap <multiaddr>', 'peer to join through, with /p2p/<id>; repeatable', collect)
  .option('--no-mdns', 'do not discover peers on the LAN with mDNS')
  .option('--mesh-key <file>', 'private network key file: peers without it cannot connect')
  .option('--token <token>', 'bearer token required by the HTTP API (env HAROMBE_TOKEN)')
  .option('--data-dir <dir>', 'where the peer identity is kept (default ~/.config/harombe-peer)')
  .option('--config <file>', 'cluster YAML; the entry matching --name describes this peer (a name it does not list is an error)')
  .option('--allow-unlisted', 'with --config: start even when --name is not one of the file\'s nodes')
  .option('--json', 'print the ready line as one JSON object: {event, name, peer_id, api, mesh, open_mesh}')
  .option('--json-logs', 'log JSON lines to stderr')
  .option('--log-level <level>', 'fatal | error | warn | info | debug | trace (default info)')
  .option('--drain-timeout <ms>', 'on SIGINT/SIGTERM, how long in-flight completions may finish (default 10000)')
  .option('--max-tokens-cap <n>', `tokens one request may generate on this peer; more ends at the cap with finish reason "length"; 0 = no cap beyond the model's context (default ${DEFAULT_MAX_TOKENS_CAP})`)
  .option('--request-timeout <ms>', `wall-clock bound on each completion; past it the answer ends with a timeout error; 0 = none (default ${DEFAULT_REQUEST_TIMEOUT_MS})`)
  .option('--no-continue', 'end a stream with an error when its serving peer dies mid-answer, instead of handing it to another peer serving the same model')
  .option('--max-handovers <n>', 'times one answer may be handed to another peer (default 2)')
  .option('--route-policy <policy>', 'affinity (keep prompts where they are cached) | in-flight (count own requests in flight, spread ties) | announced (announced load only, as before) (default affinity)')
  .option('--models-dir <dir>', 'shared GGUF files and where pulls land (default <data-dir>/models)')
  .option('--share-dir <dir>', 'another directory whose GGUF files are shared with the mesh; repeatable', collect)
  .option('--share-ollama [dir]', 'share Ollama\'s model blobs (default dir $OLLAMA_MODELS or ~/.ollama/models)')
  .option('--no-share', 'share no model files and serve no pulls')
  .option('--share-rate <rate>', 'upload limit over all uploads, bytes/s, e.g. 50M (default unlimited)')
  .option('--share-uploads <n>', 'chunk uploads served at once (default 4)')
  .addOption(new Option('--profile <profile>', 'membership timing profile').choices(['lan', 'test']).hideHelp())
  .action(async (options) => {
    // Before the peer's modules load: their start-up burst would size the young generation.
    const { holdYoungGeneration } = await import('./young-generation.js')
    holdYoungGeneration()
    const { runStart } = await import('./start.js')
    await runStart(options)
  })

program.command('complete')
  .description('one completion through the mesh; prints the text and which peer served it')
  .argument('<prompt>', 'the user message')
  .option('--model <model>', 'exact model name, or auto')
  .option('--tier <tier>', 'preferred tier: 0, 1 or 2')
  .option('--max-tokens <n>', 'upper bound on generated tokens')
  .option('--stream', 'print tokens as they arrive')
  .option('--json', 'print the whole answer as JSON (text, usage and the peer that served it)')
  .option('--api <url>', 'any peer\'s HTTP API', DEFAULT_API)
  .option('--token <token>', 'bearer token (env HAROMBE_TOKEN)')
  .option('--config <file>', CONFIG_HELP)
  .addHelpText('after', `
Examples:
  $ harombe-peer complete "Why is the sky blue?"
  $ harombe-peer complete "Summarise this" --tier 2 --stream
  $ harombe-peer complete "hi" --model qwen2.5:3b --json`)
  .action(async (prompt: string, options, command: Command) => {
    const { runComplete } = await import('./complete.js')
    await runComplete(prompt, await apiOptions(options, command))
  })

program.command('pull')
  .description('fetch a model file from the peers that hold it: chunks from several peers at once, verified by sha256, resumable')
  .argument('<model>', 'file name (without .gguf), Ollama name:tag, or sha256 (12+ hex digits)')
  .option('--to <dir>', 'directory to write into (default: the peer\'s models dir)')
  .option('--into-ollama [dir]', 'also add it to an Ollama models dir (default $OLLAMA_MODELS or ~/.ollama/models) so `ollama list` shows it')
  .option('--json', 'print progress as NDJSON events, one per line')
  .option('--api <url>', 'the peer that pulls (its machine gets the file)', DEFAULT_API)
  .option('--token <token>', 'bearer token (env HAROMBE_TOKEN)')
  .option('--config <file>', CONFIG_HELP)
  .addHelpText('after', `
The peer at --api does the download; run it against the peer on this machine. Interrupted pulls
resume from the chunks already verified. Exit 1 when no peer holds the model or the pull fails.

Examples:
  $ harombe-peer pull qwen2.5-7b-instruct-q4_k_m
  $ harombe-peer pull 3f9c2a1b7d4e --to ~/models --json`)
  .action(async (model: string, options, command: Command) => {
    const { runPull } = await import('./pull.js')
    await runPull(model, await apiOptions(options, command))
  })

program.command('models')
  .description('models across the mesh, with the peers and tiers that serve them')
  .option('--api <url>', 'any peer\'s HTTP API', DEFAULT_API)
  .option('--token <token>', 'bearer token (env HAROMBE_TOKEN)')
  .option('--json', 'print the models as a JSON array')
  .option('--config <file>', CONFIG_HELP)
  .action(async (options, command: Command) => {
    const { runModels } = await import('./models.js')
    await runModels(await apiOptions(options, command))
  })

addStatus(program)
addInit(program)
addTest(program)

// The seed's command words (`harombe cluster status`), so its docs work with harombe-peer.
const cluster = program.command('cluster')
  .description('the harombe seed\'s words: cluster init | status | test are init | status | test')
cluster.addHelpText('after', `
Examples:
  $ harombe-peer cluster init
  $ harombe-peer cluster status
  $ harombe-peer cluster test`)
addInit(cluster)
addStatus(cluster)
addTest(cluster)

// `service install` takes start's options as they are: they are written into the unit, not parsed here.
const service = program.command('service')
  .description('run the peer at boot: a systemd user unit (Linux) or a launchd agent (macOS)')
service.command('install')
  .description('write the unit (or agent) with the start options given, then enable and start it')
  .argument('[start-options...]', 'options for `start`, e.g. --name laptop --backend ollama')
  .option('--print', 'show the file and where it would go; write and enable nothing')
  .addOption(new Option('--manager <manager>', 'with --print: the file for this manager').choices(['systemd', 'launchd']).hideHelp())
  .allowUnknownOption()
  .addHelpText('after', `
Secrets (--token or HAROMBE_TOKEN, --backend-key or HAROMBE_BACKEND_KEY) go to
~/.config/harombe-peer/service.env (mode 0600), never into the unit. Relative paths are made absolute.
Logs: journalctl --user -u harombe-peer -f (Linux), ~/Library/Logs/harombe-peer/peer.log (macOS).

Examples:
  $ harombe-peer service install --print --name laptop --api-host 0.0.0.0
  $ harombe-peer service install --config ~/cluster.yaml --name laptop --token s3cret`)
  .action(async (startArgs: string[], options: { print?: boolean, manager?: 'systemd' | 'launchd' }) => {
    const { runServiceInstall } = await import('./service.js')
    process.exitCode = await runServiceInstall(startArgs, options)
  })
service.command('uninstall')
  .description('stop and disable the service, remove its files')
  .action(async () => {
    const { runServiceUninstall } = await import('./service.js')
    process.exitCode = await runServiceUninstall()
  })
service.command('status')
  .description('is the service installed and running; exit 1 if not')
  .action(async () => {
    const { runServiceStatus } = await import('./service.js')
    process.exitCode = await runServiceStatus()
  })

program.command('demo')
  .description('start a 3-peer local mesh (tiers 0/1/2, embedded tiny model) and show routing decisions')
  .option('--keep', 'keep the peers running and print their API URLs (Ctrl-C stops them)')
  .option('--json', 'print the peers, each routing decision and the final view as JSON (narration on stderr)')
  .action(async (options) => {
    const { runDemo } = await import('./demo.js')
    await runDemo(options)
  })

try {
  await program.parseAsync(process.argv)
} catch (err) {
  if (err instanceof CommanderError) {
    // Help and version are "errors" to commander's exitOverride; they already printed.
    if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') process.exit(0)
    process.exit(err.exitCode === 0 ? 0 : EXIT_USAGE)
  }
  fail(err)
}
