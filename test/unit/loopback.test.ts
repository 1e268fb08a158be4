import assert from 'node:assert/strict'
import { isLoopback } from '../../src/http/models-routes.js'

// `pull --to` / `--into-ollama` name a path on the peer's machine: only a caller on that machine may.
describe('isLoopback (who may choose where a pull writes)', () => {
  const cases: Array<[string | undefined, boolean]> = [
    ['127.0.0.1', true], ['127.1.2.3', true], ['::1', true], ['::ffff:127.0.0.1', true],
    ['192.168.1.100', false], ['::ffff:10.0.0.1', false], ['fe80::1', false], ['0.0.0.0', false], [undefined, false], ['127.0.0.1.evil', false]
  ]
  for (const [address, expected] of cases) {
    it(`should say ${String(expected)} for ${String(address)}`, () => { assert.equal(isLoopback(address), expected) })
  }
})
