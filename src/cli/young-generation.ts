import { setFlagsFromString } from 'node:v8'

// Why: V8 doubles the young generation whenever most of what it allocated survives, and loading
// ~600 modules is exactly that, so start-up alone grew it to V8's 16 MB semi-spaces: 16-21 MB
// of an idle routing-only peer's ~97 MB RSS was an empty nursery (measured after a full GC).
// Holding the growth during start-up keeps it at 1 MB (idle RSS -8 MB, start time unchanged);
// releasing it at the ready line lets request load grow it by V8's usual rule from there.
// The growth factor is the one young-generation setting V8 reads on every growth, so it can be
// set from inside the process; `--max-semi-space-size` is fixed when the heap is created.

/** V8's own default (`node --v8-options`): what the process runs with once start-up is over. */
const V8_DEFAULT_GROWTH_FACTOR = 2

const SEMI_SPACE_FLAG = /--(max|min)[-_]semi[-_]space[-_]size|--semi[-_]space[-_]growth[-_]factor/

/** True when the user sized the young generation (node flags or NODE_OPTIONS): theirs wins. */
function userSized (): boolean {
  return SEMI_SPACE_FLAG.test([...process.execArgv, process.env.NODE_OPTIONS ?? ''].join(' '))
}

let held = false

/** Keeps the young generation from growing until `releaseYoungGeneration`; call before loading the peer. */
export function holdYoungGeneration (): void {
  if (held || userSized()) return
  setFlagsFromString('--semi-space-growth-factor=1')
  held = true
}

/** Lets the young generation grow with load again. Idempotent. */
export function releaseYoungGeneration (): void {
  if (!held) return
  setFlagsFromString(`--semi-space-growth-factor=${V8_DEFAULT_GROWTH_FACTOR}`)
  held = false
}
