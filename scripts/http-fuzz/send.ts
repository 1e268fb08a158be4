// Sends one fuzz case with node:http (fetch refuses bodies on GET, custom methods and some
// headers) and reads the answer within a bound. An endless stream (cluster events) is cut after
// its first event; every other answer must end by itself.
import { request as httpRequest, type Agent, type IncomingMessage } from 'node:http'
import { materialize, type HttpCase } from './cases.js'

export interface SendBounds {
  /** The status line and headers must arrive within this. */
  headersMs: number
  /** The whole body must arrive within this (from the start). */
  totalMs: number
}

export type Sent =
  | { kind: 'answer', status: number, contentType: string, body: string, ms: number, cut: boolean }
  /** No answer within the bound: a hang. */
  | { kind: 'hang', phase: 'headers' | 'body', ms: number }
  /** The connection failed before an answer: refused (the peer is gone) or reset. */
  | { kind: 'dropped', code: string, ms: number }

/** The one route whose answer never ends (cluster events): its first event is enough to see its shape. */
const ENDLESS_PATH = '/api/cluster/events'

/** Bytes of the request line and header block as Node's client writes them (plus Host and Connection, roughly). */
export function headerBytes (c: HttpCase, host: string): number {
  const sent = materialize(c)
  let n = `${c.method} ${sent.target} HTTP/1.1\r\n`.length + `Host: ${host}\r\nConnection: keep-alive\r\n\r\n`.length
  for (const [k, v] of sent.headers) n += k.length + v.length + 4
  if (sent.body != null) n += `Content-Length: ${sent.body.byteLength}\r\n`.length
  return n
}

export async function sendCase (base: URL, c: HttpCase, agent: Agent, bounds: SendBounds): Promise<Sent> {
  const started = performance.now()
  const elapsed = (): number => performance.now() - started
  return await new Promise<Sent>(resolve => {
    let settled = false
    const finish = (result: Sent): void => {
      if (settled) return
      settled = true
      clearTimeout(headersTimer)
      clearTimeout(totalTimer)
      resolve(result)
    }
    const sent = materialize(c)
    const headers: Record<string, string> = {}
    for (const [k, v] of sent.headers) headers[k] = v
    if (sent.body != null) headers['content-length'] = String(sent.body.byteLength)
    const req = httpRequest({ host: base.hostname, port: base.port, method: c.method, path: sent.target, headers, agent })
    let response: IncomingMessage | undefined
    const headersTimer = setTimeout(() => { finish({ kind: 'hang', phase: 'headers', ms: elapsed() }); req.destroy() }, bounds.headersMs)
    const totalTimer = setTimeout(() => { finish({ kind: 'hang', phase: 'body', ms: elapsed() }); req.destroy() }, bounds.totalMs)
    req.on('response', res => {
      response = res
      clearTimeout(headersTimer)
      const chunks: Buffer[] = []
      const contentType = String(res.headers['content-type'] ?? '')
      const endless = c.path === ENDLESS_PATH && res.statusCode === 200
      const answer = (cut: boolean): Sent => ({ kind: 'answer', status: res.statusCode ?? 0, contentType, body: Buffer.concat(chunks).toString('utf8'), ms: elapsed(), cut })
      res.on('data', (chunk: Buffer) => {
        chunks.push(chunk)
        // The stream stays open: take its first event and hang up.
        if (endless && Buffer.concat(chunks).includes('\n\n')) {
          finish(answer(true))
          req.destroy()
        }
      })
      res.on('end', () => { finish(answer(false)) })
      res.on('error', () => { finish(answer(true)) })
    })
    req.on('error', (err: NodeJS.ErrnoException) => {
      // An answer that came before the socket closed is the answer (431 and 400 close the connection).
      if (response != null) return
      finish({ kind: 'dropped', code: err.code ?? err.message, ms: elapsed() })
    })
    req.end(sent.body)
  })
}
