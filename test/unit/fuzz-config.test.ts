import assert from 'node:assert/strict'
import fc from 'fast-check'
import { stringify } from 'yaml'
import { ClusterConfigSchema, ConfigError, formatProblem, parseClusterConfig, type ClusterConfig, type ParsedClusterConfig } from '../../src/config/index.js'
import { RUNS, fuzzSuite, mutatedText, nearMiss, shallowJson, throughJson, timeBounded } from '../helpers/fuzz.js'

// Property tests for the cluster-file parser: whatever the text, parseClusterConfig returns a
// config the schema accepts as is, or throws one ConfigError whose every problem names a field
// path or a line (or is about the file as a whole). Any other exception is a crash. A failure
// prints fast-check's seed and path; pass them to fc.assert as { seed, path } to replay the case.

/**
 * The parser's RUNS (issue 7: at least 10,000) are split between random and mutated text. A YAML
 * parse costs 0.2–0.4 ms here, ten times a frame decode, so 10k in all keeps this file to a few
 * seconds on a 2-core machine, where the byte decoders get 10k of each kind.
 */
const RANDOM_RUNS = RUNS / 2
const MUTATED_RUNS = RUNS / 2
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
  // A token goes in an HTTP header: visible ASCII only (issue 27); anything else is a config error.
  auth_token: fc.stringMatching(/^[\x21-\x7e]{1,8}$/),
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
const toYaml = (value: unknown, options: object): string => stringify(throughJson(value), options)
const validFile = fc.tuple(cluster, style).map(([c, s]) => ({ cluster: throughJson(c), text: toYaml({ cluster: c }, s) }))
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

/** Any YAML-representable value, shallow enough to stay cheap: JSON's, tagged values, and scalars YAML reads its own way. */
const anyValue = shallowJson([tagged, fc.constantFrom('yes', '~', '0x1F', '1e3', '.inf', '2001-12-14', '/ip4/1.2.3.4', '')], 6)

const yamlish = fc.string({ maxLength: 200, unit: fc.constantFrom(...'cluster:nodes-name host port tier model\n  \n    - {}[],:"\'#&*!|>?%@`0129.~'.split('')) })

const randomText: fc.Arbitrary<string> = fc.oneof(
  fc.string({ maxLength: 200, unit: 'binary' }),
  yamlish,
  yamlish.map(s => `cluster:\n  ${s}`),
  // JSON is YAML (flow style) and ~50 times cheaper to produce than yaml.stringify; block style comes from the mutations.
  nearMiss(cluster, anyValue).map(c => yamlFromJson({ cluster: c })),
  fc.array(nearMiss(node, anyValue), { maxLength: 3 }).map(nodes => yamlFromJson({ cluster: { nodes } })),
  anyValue.map(v => yamlFromJson({ cluster: v })),
  anyValue.map(yamlFromJson)
)

/** Stray tokens for the text edits (helpers/fuzz.ts): YAML's indicators, document markers, a NUL, a BOM. */
const TOKENS = [':', ': ', '- ', '\n', '  ', '\t', '{', '}', '[', ']', ',', '"', "'", '#', '&a ', '*a', '!!binary ', '!!set ', '? ', '|', '>', '<<: ', '%YAML 1.1\n---\n', '---\n', '...\n', 'null', '~', '\u0000', '\ufeff', 'é']
const mutatedValid = mutatedText(fc.constantFrom(...VALID_POOL), TOKENS, 5)

// ---- the property ----

interface Stats { ok: number, rejected: number, withLine: number }

function parseChecked (text: string, stats: Stats): ClusterConfig | undefined {
  const outcome = timeBounded((): { ok: ParsedClusterConfig } | { err: unknown } => {
    try {
      return { ok: parseClusterConfig(text, 'fuzz.yaml') }
    } catch (err) {
      return { err }
    }
  }, ms => `parse took ${ms} ms twice on ${JSON.stringify(text)}`)
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
  fuzzSuite(this)

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
