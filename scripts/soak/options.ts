// The soak's command line: `npm run soak -- [options]`. Everything is bounded: the run shares a
// 2-core machine, so the load is a fixed number of closed-loop clients with a think time.
import { parseArgs } from 'node:util'

export const HELP = `npm run soak -- [options]   (tsx scripts/soak/run.ts)

Peers as separate \`harombe-peer start\` processes on 127.0.0.1 under a mixed workload: the OpenAI,
Ollama and /api/complete APIs, streamed and whole, cancels, tool calls, kill -9 and restart of a
serving peer every 2 minutes, a model pull every minute, a peer joining and leaving every minute.
Every --sample seconds each peer's /metrics is read: RSS, heap after the last major collection,
descriptors, connections, streams, event-loop delay, bounded structures.
Writes bench/results/soak.json (soak.quick.json with --quick) and re-renders BENCHMARKS.md.

Options:
  --minutes <n>    how long the workload runs (default 10; the report's run is 60)
  --quick          a light run, what npm test runs: 35 s of load, under a minute in all
                   (4 peers + the joiner, 4 clients, one kill, one pull, one join and leave)
  --clients <n>    concurrent closed-loop clients (default 12, quick 4)
  --think <ms>     mean pause of a client between requests (default 150)
  --sample <s>     seconds between samples (default 10, quick 5)
  --warmup <min>   minutes before trends are measured (default 10, or a third of a shorter run)
  --seed <n>       seed of the request mix (default 1)
  --out <file>     write the result here instead of bench/results/
  --log-dir <dir>  append each peer's stderr to <dir>/<peer>.log
  --no-report      do not re-render BENCHMARKS.md
  --no-build       do not rebuild a stale dist/ first
  --json           print the summary as JSON on stdout
  -h, --help       this text

Progress goes to stderr. Exit 1 when a request failed other than those killed on purpose, or a
bounded structure exceeded its bound, or a peer exited without being killed or stopped.`

export interface SoakOptions {
  quick: boolean
  durationS: number
  clients: number
  thinkMs: number
  sampleS: number
  warmupS: number
  seed: number
  out?: string
  logDir?: string
  report: boolean
  build: boolean
  json: boolean
}

export function parseSoakArgs (argv: string[]): SoakOptions | { help: true } | { error: string } {
  let values
  try {
    values = parseArgs({
      args: argv,
      options: {
        minutes: { type: 'string' },
        quick: { type: 'boolean', default: false },
        clients: { type: 'string' },
        think: { type: 'string' },
        sample: { type: 'string' },
        warmup: { type: 'string' },
        seed: { type: 'string', default: '1' },
        out: { type: 'string' },
        'log-dir': { type: 'string' },
        'no-report': { type: 'boolean', default: false },
        'no-build': { type: 'boolean', default: false },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false }
      }
    }).values
  } catch (err: any) {
    return { error: String(err?.message ?? err) }
  }
  if (values.help === true) return { help: true }
  const quick = values.quick === true
  const num = (name: string, raw: string | undefined, fallback: number, min: number, max: number): number | string => {
    if (raw == null) return fallback
    const n = Number(raw)
    return Number.isFinite(n) && n >= min && n <= max ? n : `--${name} must be a number from ${min} to ${max}, got ${raw}`
  }
  const minutes = num('minutes', values.minutes, quick ? 35 / 60 : 10, 0.5, 24 * 60)
  const clients = num('clients', values.clients, quick ? 4 : 12, 1, 64)
  const thinkMs = num('think', values.think, 150, 0, 10_000)
  const sampleS = num('sample', values.sample, quick ? 5 : 10, 1, 600)
  const seed = num('seed', values.seed, 1, 1, 2 ** 31)
  for (const v of [minutes, clients, thinkMs, sampleS, seed]) if (typeof v === 'string') return { error: v }
  const durationS = Math.round((minutes as number) * 60)
  const warmup = num('warmup', values.warmup, Math.min(10, (minutes as number) / 3), 0, minutes as number)
  if (typeof warmup === 'string') return { error: warmup }
  return {
    quick,
    durationS,
    clients: Math.floor(clients as number),
    thinkMs: thinkMs as number,
    sampleS: sampleS as number,
    warmupS: Math.round((warmup as number) * 60),
    seed: Math.floor(seed as number),
    ...(values.out != null ? { out: values.out } : {}),
    ...(values['log-dir'] != null ? { logDir: values['log-dir'] } : {}),
    report: values['no-report'] !== true,
    build: values['no-build'] !== true,
    json: values.json === true
  }
}
