import assert from 'node:assert/strict'
import { bearerTokenCheck, exposedApiWarning, isLoopbackHost } from '../../src/http/auth.js'

describe('API auth helpers', () => {
  describe('bearerTokenCheck', () => {
    const TOKEN = 's3cret-token'
    const check = bearerTokenCheck(TOKEN)
    const cases: Array<[string, string | undefined, boolean]> = [
      ['the right token', `Bearer ${TOKEN}`, true],
      ['the scheme in any case (RFC 7235)', `bearer ${TOKEN}`, true],
      ['several spaces after the scheme', `Bearer   ${TOKEN}`, true],
      ['no header', undefined, false],
      ['an empty header', '', false],
      ['the scheme alone', 'Bearer ', false],
      ['a wrong token', 'Bearer wrong', false],
      ['a wrong token of the same length', `Bearer ${'x'.repeat(TOKEN.length)}`, false],
      ['the right token with one byte changed', `Bearer ${TOKEN.slice(0, -1)}X`, false],
      ['a prefix of the token', `Bearer ${TOKEN.slice(0, 4)}`, false],
      ['the token with a suffix', `Bearer ${TOKEN}x`, false],
      ['the token without a scheme', TOKEN, false],
      ['the token under another scheme', `Basic ${TOKEN}`, false],
      ['the scheme glued to the token', `Bearer${TOKEN}`, false],
      ['an empty token after the scheme', 'Bearer', false]
    ]
    for (const [name, header, expected] of cases) {
      it(`should ${expected ? 'accept' : 'refuse'} ${name}`, () => {
        assert.equal(check(header), expected)
      })
    }

    it('should compare tokens with non-ASCII characters by their bytes', () => {
      const unicode = bearerTokenCheck('clé-ünïcode-🔑')
      assert.equal(unicode('Bearer clé-ünïcode-🔑'), true)
      assert.equal(unicode('Bearer cle-unicode-🔑'), false)
    })

    it('should refuse to build a check for an empty token, which would let everyone in', () => {
      assert.throws(() => bearerTokenCheck(''), RangeError)
    })
  })

  describe('isLoopbackHost', () => {
    const cases: Array<[string, boolean]> = [
      ['127.0.0.1', true],
      ['127.1.2.3', true],
      ['localhost', true],
      ['LOCALHOST', true],
      ['localhost.', true],
      ['app.localhost', true],
      ['::1', true],
      ['[::1]', true],
      ['0:0:0:0:0:0:0:1', true],
      ['::ffff:127.0.0.1', true],
      ['0.0.0.0', false],
      ['::', false],
      ['[::]', false],
      ['192.168.1.10', false],
      ['10.0.0.1', false],
      ['128.0.0.1', false],
      ['::2', false],
      ['::ffff:10.0.0.1', false],
      ['my-laptop', false],
      ['localhost.example.com', false],
      ['', false]
    ]
    for (const [host, expected] of cases) {
      it(`should call ${JSON.stringify(host)} ${expected ? 'loopback' : 'exposed'}`, () => {
        assert.equal(isLoopbackHost(host), expected)
      })
    }
  })

  describe('exposedApiWarning', () => {
    it('should warn about a non-loopback host without a token, naming the host and the fix', () => {
      const warning = exposedApiWarning('0.0.0.0', undefined)
      assert.ok(warning != null)
      assert.match(warning, /0\.0\.0\.0/)
      assert.match(warning, /--token/)
    })

    it('should treat an empty token like no token', () => {
      assert.ok(exposedApiWarning('192.168.1.10', '') != null)
    })

    it('should not warn on loopback, or when a token protects the API', () => {
      assert.equal(exposedApiWarning('127.0.0.1', undefined), undefined)
      assert.equal(exposedApiWarning('0.0.0.0', 'secret'), undefined)
    })
  })
})
