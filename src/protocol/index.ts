// `/harombe/complete/1.0.0`: the frame codec, the caller side and the serving side.
export * from './constants.js'
export {
  decodeRequestFrame,
  decodeResponseFrame,
  encodeRequestFrame,
  encodeResponseFrame,
  resultOf,
  validateRequest,
  MAX_ERROR_MESSAGE_CHARS,
  type DeltaFrame,
  type DoneFrame,
  type ErrorFrame,
  type RequestFrame,
  type ResponseFrame,
  type ServedBy,
  type TrailerFrame
} from './frames.js'
export { isAnswering } from './answering.js'
export { afterFirstDelta, completeOverMesh, type CompleteOverMeshOptions, type MeshCompletionError } from './client.js'
export {
  closeStreamPool,
  createStreamPool,
  pooledStreams,
  streamPoolOf,
  type PooledStream,
  type StreamPool,
  type StreamPoolInit
} from './stream-pool.js'
export {
  registerCompletionHandler,
  type CompletionExecutor,
  type CompletionHandler,
  type CompletionHandlerInit,
  type ExecuteContext
} from './handler.js'
