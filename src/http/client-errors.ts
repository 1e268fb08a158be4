// Requests Node's HTTP parser cannot read reach no route: a method it does not know, a malformed
// request line, or a request line and headers over 16 KiB. They are answered here, in fastify's
// shape (`{"error", "message", "statusCode"}`; its `error` string is what Ollama clients show).
//
// Fastify's own answer has no `Connection: close` and destroys the socket at once: a keep-alive
// client (undici, Node's agent) put the socket back in its pool and sent its next request into a
// closed connection — ECONNRESET on a request that had done nothing wrong (found by the HTTP fuzz
// suite, issue 17). So the answer says `Connection: close`. The socket is then half-closed rather
// than destroyed (Node's parser keeps reading and dropping what the client still sends, as nginx's
// lingering close does: closing with bytes unread makes the kernel send a reset, which can overtake
// the answer on a slow link), and destroyed after a bounded time if the client does not close it.
import { STATUS_CODES, type IncomingMessage } from 'node:http'
import type { Socket } from 'node:net'
import type { FastifyReply } from 'fastify'

/** Long enough for a client on a LAN to finish sending and read the answer; short enough that a hostile one cannot hold sockets. */
export const LINGER_MS = 2_000

/** The status for a parser error: 431 for headers over the limit, 408 for a request that took too long, else 400. */
export function clientErrorStatus (code: string | undefined): number {
  if (code === 'HPE_HEADER_OVERFLOW') return 431
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') return 408
  return 400
}

const MESSAGES: Record<number, string> = {
  400: 'the request is not valid HTTP (an unknown method or a malformed request line)',
  408: 'the request took too long to arrive',
  431: 'the request line and headers are larger than 16 KiB'
}

const answered = new WeakSet<Socket>()

/** Fastify's `clientErrorHandler`: answer once, then linger (see above). */
export function answerClientError (err: NodeJS.ErrnoException, socket: Socket): void {
  // A reset socket has no one to answer; a second parse error on the same socket was answered already.
  if (err.code === 'ECONNRESET' || socket.destroyed || answered.has(socket)) return
  answered.add(socket)
  // As Node does: never write into a response already under way (a pipelined request after a streamed answer).
  const inFlight = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage
  if (socket.writable && inFlight?.headersSent !== true) {
    const status = clientErrorStatus(err.code)
    const body = JSON.stringify({ error: STATUS_CODES[status], message: MESSAGES[status], statusCode: status })
    socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`)
  } else {
    socket.end()
  }
  const timer = setTimeout(() => { socket.destroy() }, LINGER_MS)
  timer.unref()
  socket.once('close', () => { clearTimeout(timer) })
}

/**
 * A body over the limit is refused (413) before it is read, while the client is still sending it.
 * Fastify then closes the connection, and the reset overtook the answer: the client saw EPIPE
 * instead of 413 (found by the HTTP fuzz suite, 4 MiB bodies). So the rest of the body is read and
 * dropped instead, for at most LINGER_MS: the answer arrives, and a client that finishes sending in
 * time keeps its keep-alive connection.
 */
export function lingerOnRefusedBody (request: IncomingMessage, reply: FastifyReply): void {
  if (request.complete) return
  reply.removeHeader('connection')
  const timer = setTimeout(() => { request.socket.destroy() }, LINGER_MS)
  timer.unref()
  request.once('end', () => { clearTimeout(timer) })
  request.once('close', () => { clearTimeout(timer) })
  request.resume()
}
