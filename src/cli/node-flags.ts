/**
 * Node flags for a long-running peer: the service files (`service install`) and `npm start` run
 * the CLI with them. The bin cannot set them itself: V8 sizes its heap before any script runs
 * (`v8.setFlagsFromString('--max-semi-space-size=…')` after start changes nothing, measured).
 *
 * `--max-semi-space-size=4`: under sustained load V8 grows the young generation to its default
 * maximum, 16 MB per semi-space, and keeps it. Short-lived per-request objects fit in 4 MB as well;
 * measured under 16 clients (scripts/bench/part-memory.ts, side by side): the serving peer's peak
 * RSS 133–135 → 124–128 MB and the entry peer's 126 → 106–109 MB, CPU per request and requests
 * per second unchanged within the noise. Idle, it does not help: a lone idle peer read 77 MB with
 * it in four of four hand runs, but 86 MB in four of six `bench:memory` rounds (78–80 without it):
 * watch BENCHMARKS.md section 17 before relying on it for an idle peer.
 */
export const PEER_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=4']
