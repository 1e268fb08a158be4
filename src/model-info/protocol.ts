// `/harombe/model-info/1.0.0`: one JSON request frame (`show` a model, or `ps`), one JSON answer
// frame, then the stream closes. Answers are small and bounded (MAX_INFO_FRAME_BYTES); a
// malformed frame is answered bad_request and logged, and the peer keeps serving.
import { randomUUID } from 'node:crypto'
import type { IncomingStreamData, PeerId } from '@libp2p/interface'
import { z } from 'zod'
import { BadRequestError, UnavailableError, TimeoutError, errorFromCode, toCompletionError, type CompletionError } from '../completion/errors.js'
import { encodeTextFrames, readFrames } from '../mesh/framing.js'
import type { MeshNode } from '../mesh/node.js'
import { silentLogger, type Logger } from '../log.js'
import { MAX_INFO_FRAME_BYTES, MAX_RUNNING_MODELS } from './bounds.js'
import type { ModelDetails, RunningModel } from './types.js'
import { decodeJsonFrame, type Decoded } from '../util/json-frame.js'

export const MODEL_INFO_PROTOCOL = '/harombe/model-info/1.0.0'

export type InfoRequest = { id: string, kind: 'show', model: string } | { id: string, kind: 'ps' }
export type InfoAnswer =
  | { type: 'show', details: ModelDetails }
  | { type: 'ps', models: RunningModel[] }
  | { type: 'error', code: string, message: string, retryable: boolean }

const RequestSchema = z.discriminatedUnion('kind', [
  z.object({ id: z.string().min(1).max(128), kind: z.literal('show'), model: z.string().min(1).max(256) }),
  z.object({ id: z.string().min(1).max(128), kind: z.literal('ps') })
])
const optNumber = z.number().finite().min(0).optional()
const optString = z.string().optional()
const DetailsSchema = z.object({
  model: z.string().min(1).max(256),
  format: optString, family: optString, architecture: optString, parameter_count: optNumber, parameter_size: optString,
  quantization_level: optString, context_length: optNumber, embedding_length: optNumber, template: optString,
  ollama: z.record(z.string(), z.unknown()).optional()
})
const RunningSchema = z.object({
  model: z.string().min(1).max(256), size: optNumber, size_vram: optNumber, digest: optString, context_length: optNumber, expires_at: optString,
  details: z.object({ format: optString, family: optString, parameter_size: optString, quantization_level: optString }).optional()
})
const AnswerSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('show'), details: DetailsSchema }),
  z.object({ type: z.literal('ps'), models: z.array(RunningSchema).max(MAX_RUNNING_MODELS) }),
  z.object({ type: z.literal('error'), code: z.string().min(1).max(64), message: z.string().max(2_000), retryable: z.boolean() })
])

export const decodeInfoRequest = (bytes: Uint8Array): Decoded<InfoRequest> => decodeJsonFrame(bytes, RequestSchema as z.ZodType<InfoRequest>)
export const decodeInfoAnswer = (bytes: Uint8Array): Decoded<InfoAnswer> => decodeJsonFrame(bytes, AnswerSchema as z.ZodType<InfoAnswer>)

export interface InfoExecutor {
  show: (model: string, signal: AbortSignal) => Promise<ModelDetails>
  ps: (signal: AbortSignal) => Promise<RunningModel[]>
}

export async function registerInfoHandler (node: MeshNode, execute: InfoExecutor, options: { timeoutMs: number, logger?: Logger }): Promise<{ unregister: () => Promise<void> }> {
  const log = options.logger ?? silentLogger()
  const onStream = ({ stream, connection }: IncomingStreamData): void => {
    void (async () => {
      const signal = AbortSignal.timeout(options.timeoutMs)
      let answer: InfoAnswer
      try {
        const first = await readFrames(stream.source, 64 * 1024).next()
        if (first.done === true) throw new BadRequestError('no request frame')
        const request = decodeInfoRequest(first.value)
        if (!request.ok) {
          log.warn({ peer: connection.remotePeer.toString(), reason: request.reason }, 'dropped a malformed model-info request')
          throw new BadRequestError(`bad model-info request: ${request.reason}`)
        }
        answer = request.value.kind === 'show'
          ? { type: 'show', details: await execute.show(request.value.model, signal) }
          : { type: 'ps', models: (await execute.ps(signal)).slice(0, MAX_RUNNING_MODELS) }
      } catch (err) {
        const e = toCompletionError(err)
        answer = { type: 'error', code: e.code, message: e.message.slice(0, 2_000), retryable: e.retryable }
      }
      let text = JSON.stringify(answer)
      if (Buffer.byteLength(text) > MAX_INFO_FRAME_BYTES) text = JSON.stringify({ type: 'error', code: 'internal', message: 'model details too large to send', retryable: false })
      await stream.sink([encodeTextFrames(text)])
      await stream.close()
    })().catch(err => {
      log.debug({ err, peer: connection.remotePeer.toString() }, 'model-info stream failed')
      stream.abort(err instanceof Error ? err : new Error(String(err)))
    })
  }
  await node.handle(MODEL_INFO_PROTOCOL, onStream, { maxInboundStreams: 16, maxOutboundStreams: 64 })
  return { unregister: async () => { await node.unhandle(MODEL_INFO_PROTOCOL).catch(() => {}) } }
}

/** Asks `peer` once; every failure is a CompletionError. */
export async function askInfo (node: MeshNode, peer: PeerId, request: { kind: 'show', model: string } | { kind: 'ps' }, options: { signal: AbortSignal, timeoutMs: number }): Promise<InfoAnswer & { type: 'show' | 'ps' }> {
  const signal = AbortSignal.any([options.signal, AbortSignal.timeout(options.timeoutMs)])
  let answer: InfoAnswer
  try {
    const stream = await node.dialProtocol(peer, MODEL_INFO_PROTOCOL, { signal })
    try {
      await stream.sink([encodeTextFrames(JSON.stringify({ id: randomUUID(), ...request }))])
      const first = await readFrames(stream.source, MAX_INFO_FRAME_BYTES).next()
      if (first.done === true) throw new UnavailableError(`model-info stream from ${peer.toString()} ended without an answer`)
      const decoded = decodeInfoAnswer(first.value)
      if (!decoded.ok) throw new UnavailableError(`bad model-info answer from ${peer.toString()}: ${decoded.reason}`)
      answer = decoded.value
    } finally {
      stream.abort(new Error('done'))
    }
  } catch (err: any) {
    if (signal.aborted && !options.signal.aborted) throw new TimeoutError(`no model info from ${peer.toString()} within ${options.timeoutMs} ms`)
    const e: CompletionError = err?.code != null && typeof err.retryable === 'boolean' ? err : new UnavailableError(`model info from ${peer.toString()} failed: ${err?.message ?? err}`)
    throw e
  }
  if (answer.type === 'error') throw errorFromCode(answer.code, answer.message)
  return answer
}
