// When the soak disturbs the mesh, as a pure plan (seconds since the load started), so a run of
// any length has the same rhythm and the plan has a table test.
//   full: every minute the joiner joins at :05 and leaves at :35, a pull at :20; serve-1 is killed
//         (kill -9) at :45 of every other minute and restarted 3 s later
//   quick: the same kinds once each, packed into 35 s

export type Action = 'join' | 'leave' | 'pull' | 'kill'

export interface Planned { at: number, action: Action }

/** Time a killed peer stays down before its restart. */
export const RESTART_AFTER_S = 3

export function plan (durationS: number, quick: boolean): Planned[] {
  const out: Planned[] = []
  if (quick) {
    // Nothing in the last seconds: every disturbance has settled before the final sample.
    const at = (s: number, action: Action): void => { if (s < durationS - 8) out.push({ at: s, action }) }
    at(3, 'join')
    at(8, 'pull')
    at(12, 'kill')
    at(24, 'leave')
    return out
  }
  for (let m = 0; m * 60 < durationS; m++) {
    const base = m * 60
    const at = (s: number, action: Action): void => { if (base + s < durationS - 10) out.push({ at: base + s, action }) }
    at(5, 'join')
    at(20, 'pull')
    at(35, 'leave')
    if (m % 2 === 0) at(45, 'kill')
  }
  return out.sort((a, b) => a.at - b.at)
}
