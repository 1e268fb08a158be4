import assert from 'node:assert/strict'
import fc from 'fast-check'
import { stringify } from 'yaml'
import { ClusterConfigSchema, ConfigError, formatProblem, parseClusterConfig, type ClusterConfig, type ParsedClusterConfig } from '../../src/config/index.js'

// Property tests for the cluster-file parser: whatever the text, parseClusterConfig returns a
// config the schema accepts as is, or throws one ConfigError whose every problem names a field
// path or a line (or is about the file as a whole). Any other exception is a crash. A failure
// prints fast-check's seed and path; pass them to fc.assert as { seed, path } to replay the case.

/**
 * Cases for the parser (issue 7: at least 10,000), split between random and mutated text. A YAML
 * parse costs 0.2–0.4 ms here, ten times a frame decode, so 10k in all keeps this file to a few
 * seconds on a 2-core machine, where the byte decoders get 10k of each kind.
 */
const RUNS = 10_000
const RANDOM_RUNS = RUNS / 2
const MUTATED_RUNS = RUNS / 2
/** Far above a parse of a small file (~100 µs); only a pathological input (a hang) gets near it. */
const MAX_PARSE_MS = 1_000
/** Problems about the whole file, which has no single line to point at. */
const FILE_LEVEL = /^(the file is empty|YAML error: |the file has \d+ characters)/

// ---- valid cluster files ----

const word = fc.string({ minLength: 1, maxLength: 8 })
const host = fc.oneof(fc.constantFrom('localhost', '127.0.0.1', 'gpu.lan', '203.0.113.42', '::1'), word)
const modelName = fc.oneof(fc.constantFrom('qwen2.5:3b', 'llama3.2:3b', 'tiny'), word)
const node = fc.record({
  name: word,
  host,
  port: fc.integer({ min: 1, max: 65535 }),
  model: fc.oneof(modelName, fc.array(modelName, { minLength: 1, maxLength: 2 })),
  tier: fc.constantFrom(0, 1, 2),
  auth_token: word,
  enabled: fc.boolean()
}, { requiredKeys: ['name', 'host', 'port', 'model', 'tier'] })
function clusterOf (maxNodes: number): fc.Arbitrary<Record<string, unknown>> {
  return fc.record({
    coordinator: fc.record({ host }, { requiredKeys: [] }),
    discovery: fc.record({
      method: fc.constantFrom('mdns', 'explicit'),
      bootstrap: fc.array(fc.constantFrom('/ip4/192.0.2.1/tcp/4700/p2p/12D3KooWQMHZVjj47RKpX2mhNeUV4PFHdzbj9EAv8qHxaMDJuXq1', '/ip4/10.0.0.1/tcp/4700', '/dns4/gpu.lan/tcp/4700'), { maxLength: 1 })
    }, { requiredKeys: [] }),
    routing: fc.record({ prefer_local: fc.boolean(), fallback_strategy: fc.constantFrom('graceful', 'strict'), load_balance: fc.boolean() }, { requiredKeys: [] }),
    nodes: fc.uniqueArray(node, { selector: n => n.name, maxLength: maxNodes })
  }, { requiredKeys: [] })
}
const cluster = clusterOf(3)

/** The same data in the YAML styles people write: block or flow, plain or quoted, 2–4 spaces. */
const style = fc.record({
  indent: fc.integer({ min: 2, max: 4 }),
  collectionStyle: fc.constantFrom('any' as const, 'block' as const, 'flow' as const),
  defaultStringType: fc.constantFrom('PLAIN' as const, 'QUOTE_DOUBLE' as const, 'QUOTE_SINGLE' as const)
})
// Through JSON: fast-check builds records without a prototype, which yaml would tag as custom objects.
const plain = <T>(value: T): T => JSON.parse(JSON.stringify(value))
const toYaml = (value: unknown, options: object): string => stringify(plain(value), options)
const validFile = fc.tuple(cluster, style).map(([c, s]) => ({ cluster: plain(c), text: toYaml({ cluster: c }, s) }))
/**
 * Valid files to mutate, made once: yaml.stringify costs ~0.5 ms, more than the parse under test,
 * and the edits, not the base files, are what varies from case to case. One node at most keeps
 * them short (~150 characters): a broken line makes yaml report every line after it, and those
 * errors are most of the parse time. Several nodes are covered by the random near misses.
 */
const VALID_POOL = fc.sample(fc.tuple(clusterOf(1), style).map(([c, s]) => toYaml({ cluster: c }, s)), { numRuns: 300, seed: 7 })

// ---- inputs that are not valid ----

/**
 * Tagged YAML values, spliced into JSON text in place of a placeholder string: JSON cannot say
 * `!!binary`, and an explicit tag at a mapping's place once crashed the parser with a TypeError.
 */
const TAGGED = ['!!binary aGVsbG8=', '!!set {a, b}', '!!omap [a: 1]', '!!timestamp 2001-12-14', '!!float 1', '!!int 0x1F', '!!bool yes', '!!null', '!foo bar', '!!map {}', '!!seq []', '!!str 8000']
const tagged = fc.integer({ min: 0, max: TAGGED.length - 1 }).map(i => `@@tag${i}@@`)
/** JSON text (flow-style YAML) with the tag placeholders replaced by the tagged values. */
const yamlFromJson = (value: unknown): string =>
  (JSON.stringify(value) ?? '').replace(/"@@tag(\d+)@@"/g, (_, i: string) => TAGGED[Number(i)] ?? '')

/** Any YAML-representable value, shallow enough to stay cheap. */
const anyValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.constant(null), fc.boolean(), fc.integer(), fc.double(), fc.string({ maxLength: 8 }), tagged,
  fc.constantFrom('yes', '~', '0x1F', '1e3', '.inf', '2001-12-14', '/ip4/1.2.3.4', ''),
  fc.array(fc.oneof(fc.integer(), fc.string({ maxLength: 4 })), { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 6 }), fc.oneof(fc.integer(), fc.string({ maxLength: 4 })), { maxKeys: 3 })
)

/** Each field kept, dropped, or replaced; kept with weight 2n against 2 so ~1 field of n breaks. */
function nearMiss (valid: fc.Arbitrary<object>): fc.Arbitrary<Record<string, unknown>> {
  return valid.chain(value => {
    const fields = Object.entries(value)
    const keep = 2 * Math.max(1, fields.length)
    return fc.record(Object.fromEntries(fields.map(([k, v]) => [k, fc.oneof({ weight: keep, arbitrary: fc.constant(v) }, { weight: 1, arbitrary: anyValue }, { weight: 1, arbitrary: fc.constant(undefined) })])))
  })
}

const yamlish = fc.string({ maxLength: 200, unit: fc.constantFrom(...'cluster:nodes-name host port tier model\n  \n    - {}[],:"\'#&*!|>?%@`0129.~'.split('')) })

const randomText: fc.Arbitrary<string> = fc.oneof(
  fc.string({ maxLength: 200, unit: 'binary' }),
  yamlish,
  yamlish.map(s => `cluster:\n  ${s}`),
  // JSON is YAML (flow style) and ~50 times cheaper to produce than yaml.stringify; block style comes from the mutations.
  nearMiss(cluster).map(c => yamlFromJson({ cluster: c })),
  fc.array(nearMiss(node), { maxLength: 3 }).map(nodes => yamlFromJson({ cluster: { nodes } })),
  anyValue.map(v => yamlFromJson({ cluster: v })),
  anyValue.map(yamlFromJson)
)

/** Text edits of the kinds people (and editors) make: stray tokens, lost lines, broken indentation. */
const TOKENS = [':', ': ', '- ', '\n', '  ', '\t', '{', '}', '[', ']', ',', '"', "'", '#', '&a ', '*a', '!!binary ', '!!set ', '? ', '|', '>', '<<: ', '%YAML 1.1\n---\n', '---\n', '...\n', 'null', '~', '\u0000', '\ufeff', 'é']
const edit = fc.oneof(
  fc.record({ op: fc.constant('insert' as const), at: fc.nat(), text: fc.oneof(fc.constantFrom(...TOKENS), fc.string({ minLength: 1, maxLength: 3 })) }),
  fc.record({ op: fc.constant('delete' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 12 }) }),
  fc.record({ op: fc.constant('replace' as const), at: fc.nat(), text: fc.constantFrom(...TOKENS) }),
  fc.record({ op: fc.constant('duplicateLine' as const), line: fc.nat() }),
  fc.record({ op: fc.constant('swapLines' as const), a: fc.nat(), b: fc.nat() }),
  fc.record({ op: fc.constant('indent' as const), line: fc.nat(), by: fc.integer({ min: -4, max: 4 }) }),
  fc.record({ op: fc.constant('truncate' as const), at: fc.nat() })
)
type Edit = typeof edit extends fc.Arbitrary<infer E> ? E : never

function applyEdits (original: string, edits: Edit[]): string {
  let text = original
  for (const e of edits) {
    const lines = text.split('\n')
    if (e.op === 'insert') { const at = e.at % (text.length + 1); text = text.slice(0, at) + e.text + text.slice(at) }
    else if (e.op === 'delete') { const at = e.at % (text.length + 1); text = text.slice(0, at) + text.slice(at + e.length) }
    else if (e.op === 'replace') { const at = e.at % (text.length + 1); text = text.slice(0, at) + e.text + text.slice(at + 1) }
    else if (e.op === 'duplicateLine') { const i = e.line % lines.length; lines.splice(i, 0, lines[i] ?? ''); text = lines.join('\n') }
    else if (e.op === 'swapLines') { const a = e.a % lines.length; const b = e.b % lines.length; [lines[a], lines[b]] = [lines[b] ?? '', lines[a] ?? '']; text = lines.join('\n') }
    else if (e.op === 'indent') { const i = e.line % lines.length; const l = lines[i] ?? ''; lines[i] = e.by >= 0 ? ' '.repeat(e.by) + l : l.replace(new RegExp(`^ {0,${-e.by}}`), ''); text = lines.join('\n') }
    else if (e.op === 'truncate') text = text.slice(0, e.at % (text.length + 1))
  }
  return text
}

const mutatedValid = fc.tuple(fc.constantFrom(...VALID_POOL), fc.array(edit, { minLength: 1, maxLength: 5 })).map(([text, edits]) => applyEdits(text, edits))

// ---- the property ----

interface Stats { ok: number, rejected: number, withLine: number }

function parseChecked (text: string, stats: Stats): ClusterConfig | undefined {
  let outcome: { ok: ParsedClusterConfig } | { err: unknown } = { err: undefined }
  let ms = 0
  // A slow call is timed again: a GC pause or a busy machine passes the second time, a pathological input does not.
  for (let attempt = 0; attempt < 2 && (attempt === 0 || ms >= MAX_PARSE_MS); attempt++) {
    const started = performance.now()
    try {
      outcome = { ok: parseClusterConfig(text, 'fuzz.yaml') }
    } catch (err) {
      outcome = { err }
    }
    ms = performance.now() - started
  }
  if (ms >= MAX_PARSE_MS) assert.fail(`parse took ${Math.round(ms)} ms twice on ${JSON.stringify(text)}`)
  if ('ok' in outcome) {
    stats.ok++
    const { config, warnings } = outcome.ok
    // What the parser returns is a config the schema accepts unchanged: defaults applied, nothing extra.
    const again = ClusterConfigSchema.safeParse(config)
    if (!again.success) assert.fail(`accepted config fails the schema: ${JSON.stringify(text)}`)
    assert.deepEqual(again.data, config)
    for (const w of warnings) assert.ok(typeof w === 'string' && w.startsWith('fuzz.yaml: '), `warning ${String(w)}`)
    return config
  }
  const err = outcome.err
  if (!(err instanceof ConfigError)) {
    assert.fail(`threw ${(err as Error)?.name}: ${(err as Error)?.message} on ${JSON.stringify(text)}\n${(err as Error)?.stack ?? ''}`)
  }
  stats.rejected++
  assert.ok(err.problems.length > 0, 'a ConfigError lists at least one problem')
  const lineCount = text.split('\n').length
  // Messages are built only on failure: a template per check was a fifth of this test's time.
  for (const p of err.problems) {
    if (p.message.length === 0) assert.fail(`a problem without a message in ${JSON.stringify(text)}`)
    if (p.path === '' && p.line == null && !FILE_LEVEL.test(p.message)) assert.fail(`problem without path or line: ${formatProblem(p)} in ${JSON.stringify(text)}`)
    if (p.line != null) {
      stats.withLine++
      if (!Number.isInteger(p.line) || p.line < 1 || p.line > lineCount) assert.fail(`line ${p.line} of ${lineCount} in ${JSON.stringify(text)}`)
    }
  }
  assert.equal(err.message, err.problems.map(p => `fuzz.yaml: ${formatProblem(p)}`).join('\n'))
  return undefined
}

describe('cluster config parser (fuzz)', function () {
  // 10k cases take a few seconds here; the margin is for a loaded 2-core machine.
  this.timeout(60_000)
  // mocha sets Error.stackTraceLimit to Infinity, so every error a decoder creates (and rejected input
  // creates many) walks the whole fast-check stack: most of this suite's time, and not what a peer
  // pays. Node's default is restored for the fuzz runs.
  let stackTraceLimit = Error.stackTraceLimit
  before(() => { stackTraceLimit = Error.stackTraceLimit; Error.stackTraceLimit = 10 })
  after(() => { Error.stackTraceLimit = stackTraceLimit })

  // Round trips only need to cover the generator's shapes; the 10k budget goes to broken input.
  it(`should accept every valid file in any YAML style, as the schema reads the data (${RUNS / 10} cases)`, () => {
    const stats: Stats = { ok: 0, rejected: 0, withLine: 0 }
    fc.assert(fc.property(validFile, ({ cluster: data, text }) => {
      const config = parseChecked(text, stats)
      assert.deepEqual(config, ClusterConfigSchema.parse(data), text)
    }), { numRuns: RUNS / 10 })
  })

  it(`should return a valid config or throw a ConfigError naming path or line, on random text (${RANDOM_RUNS} cases)`, () => {
    const stats: Stats = { ok: 0, rejected: 0, withLine: 0 }
    fc.assert(fc.property(randomText, text => { parseChecked(text, stats) }), { numRuns: RANDOM_RUNS })
    assert.ok(stats.ok > RANDOM_RUNS / 100 && stats.rejected > RANDOM_RUNS / 2 && stats.withLine > RANDOM_RUNS / 10, JSON.stringify(stats))
  })

  it(`should do the same on mutated valid files (${MUTATED_RUNS} cases)`, () => {
    const stats: Stats = { ok: 0, rejected: 0, withLine: 0 }
    fc.assert(fc.property(mutatedValid, text => { parseChecked(text, stats) }), { numRuns: MUTATED_RUNS })
    assert.ok(stats.ok > MUTATED_RUNS / 100 && stats.rejected > MUTATED_RUNS / 10, JSON.stringify(stats))
  })
})
