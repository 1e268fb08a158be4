import { withComplete } from './backend-wrapper.js'
import { createEchoStripper, stripEcho } from './continuation.js'
import type { Backend } from './types.js'

/**
 * A backend that takes continued requests (`continuation.prefix`) and returns only new text,
 * whatever its server does with the prefix: an echoed prefix is stripped once (continuation.ts),
 * so neither the stream nor the final content repeats what the client already has.
 */
export function continuingBackend (backend: Backend): Backend {
  return withComplete(backend, async (request, options) => {
    const prefix = request.continuation?.prefix
    if (prefix == null) return await backend.complete(request, options)
    const stripper = createEchoStripper(prefix)
    const onDelta = options.onDelta
    const result = await backend.complete(request, {
      signal: options.signal,
      onDelta: onDelta == null
        ? undefined
        : delta => {
          const text = stripper.push(delta.content)
          if (text !== '') onDelta({ ...delta, content: text })
        }
    })
    return { ...result, message: { ...result.message, content: stripEcho(prefix, result.message.content, stripper.echoed()) } }
  })
}
