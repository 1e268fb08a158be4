// How many signals AbortSignal.any() has tied to `signal`: Node keeps a Set of WeakRefs under an
// internal symbol and, on Node 20, never prunes it while `signal` lives (issue 25). Internal: the
// control test in linked-signals.test.ts checks this still sees AbortSignal.any()'s entries.
export function signalDependants (signal: AbortSignal): number {
  const key = Object.getOwnPropertySymbols(signal).find(s => s.description === 'kDependantSignals')
  // Node's own SafeSet, which is not `instanceof Set`.
  const set = key == null ? undefined : (signal as unknown as Record<symbol, { size?: unknown } | undefined>)[key]
  return typeof set?.size === 'number' ? set.size : 0
}
