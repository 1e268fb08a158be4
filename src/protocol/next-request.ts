/** What waiting for a stream's next request frame ended with: a frame, the stream's end, or no frame in time / the handler closing. */
export type NextRequest<T> = IteratorResult<T> | 'timeout' | 'closing'

/**
 * Waits for the next request frame on a stream that serves requests one after another (the
 * completion and embedding protocols): bounded by `timeoutMs` (the read timeout of a new stream,
 * the idle timeout between requests), and, when `idle` is given (a stream between requests), woken
 * with 'closing' as the handler unregisters. A read error (an oversize or broken frame) rejects.
 */
export async function awaitNextRequest<T> (read: Promise<IteratorResult<T>>, options: { timeoutMs: number, idle?: Set<() => void> }): Promise<NextRequest<T>> {
  let timer: NodeJS.Timeout | undefined
  let closeIdle = (): void => {}
  const woken = new Promise<'timeout' | 'closing'>(resolve => {
    timer = setTimeout(() => { resolve('timeout') }, options.timeoutMs)
    closeIdle = () => { resolve('closing') }
  })
  options.idle?.add(closeIdle)
  try {
    return await Promise.race([read, woken])
  } finally {
    clearTimeout(timer)
    options.idle?.delete(closeIdle)
  }
}
