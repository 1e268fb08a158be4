/**
 * mulberry32: a tiny seeded PRNG in plain 32-bit integer math, so the same seed gives the same
 * numbers in every JS engine — the tiny model's weights are byte-identical across runs and a
 * fuzz failure reproduces.
 */
export function mulberry32 (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}
