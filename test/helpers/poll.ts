/** Polls an async `check` every 100 ms until it holds (errors count as "not yet"); fails with `what` after `timeoutMs`. */
export async function pollUntilAsync (check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs
  let last: unknown
  while (Date.now() < deadline) {
    try {
      if (await check()) return
    } catch (err) {
      last = err
    }
    await new Promise(resolve => setTimeout(resolve, 100))
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last != null ? ` (last error: ${String((last as Error)?.message ?? last)})` : ''}`)
}
