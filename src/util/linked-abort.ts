/**
 * Runs `work` on `controller`'s signal, which also aborts when `signal` (the caller's) does. When
 * we aborted it ourselves (a drain, a deadline), our reason is thrown: the work's own error then
 * (often a bare AbortError or "client went away") says less than why it was stopped.
 * Forwarded by hand: AbortSignal.any() on every completion showed up in the routed-path profile
 * (its signals are tracked weakly until garbage collection).
 */
export async function runLinked<T> (signal: AbortSignal, controller: AbortController, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const forward = (): void => { controller.abort(signal.reason) }
  if (signal.aborted) forward()
  else signal.addEventListener('abort', forward, { once: true })
  try {
    return await work(controller.signal)
  } catch (err) {
    if (controller.signal.aborted && !signal.aborted) throw controller.signal.reason
    throw err
  } finally {
    signal.removeEventListener('abort', forward)
  }
}
