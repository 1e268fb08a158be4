// Unit-length (L2) vectors, as Ollama's `/api/embed` answers them: it normalises every vector
// whatever the model gives (and its legacy `/api/embeddings` does not). Clients of that endpoint
// compare vectors by dot product and rely on it, so the Ollama dialect here does the same for
// backends that hand back raw vectors (llama-server, the embedded model, other OpenAI servers).

/** A vector whose squared length is this close to 1 is already unit-length (float32 rounding). */
const UNIT_TOLERANCE = 1e-5

/** Ollama's floor on the norm, so an all-zero vector stays zero instead of dividing by zero. */
const MIN_NORM = 1e-12

export type Normalized = { ok: true, vector: Float32Array } | { ok: false, reason: string }

/**
 * `vector` scaled to length 1; the same array when it already has length 1 (within float32
 * rounding), so a backend's own normalised output is passed on bit for bit. A NaN or an infinity
 * cannot be normalised (Ollama refuses those too).
 */
export function normalizeL2 (vector: Float32Array): Normalized {
  let sum = 0
  for (let i = 0; i < vector.length; i++) {
    const v = vector[i] as number
    if (!Number.isFinite(v)) return { ok: false, reason: 'embedding contains NaN or Inf values' }
    sum += v * v
  }
  if (Math.abs(sum - 1) <= UNIT_TOLERANCE) return { ok: true, vector }
  const scale = 1 / Math.max(Math.sqrt(sum), MIN_NORM)
  const out = new Float32Array(vector.length)
  for (let i = 0; i < vector.length; i++) out[i] = (vector[i] as number) * scale
  return { ok: true, vector: out }
}
