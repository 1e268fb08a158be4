// Bounds on model details: an Ollama `/api/show` carries the license and the whole Modelfile,
// which can be tens of kilobytes; none of it should make one answer unbounded.

/** A template or license longer than this is cut (a chat template is a few KiB). */
export const MAX_DETAIL_STRING_CHARS = 64 * 1024

/** One answer of the model-info protocol. */
export const MAX_INFO_FRAME_BYTES = 1024 * 1024

/** Models one peer lists in `ps`. */
export const MAX_RUNNING_MODELS = 256

/** Bound on asking one peer (details or its running models): small answers, a live peer answers in ms. */
export const INFO_TIMEOUT_MS = 5_000

/** Strings cut to MAX_DETAIL_STRING_CHARS, recursively; arrays and objects kept (a show answer is shallow). */
export function boundStrings (value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return value.length > MAX_DETAIL_STRING_CHARS ? value.slice(0, MAX_DETAIL_STRING_CHARS - 1) + '…' : value
  if (depth > 6 || value == null || typeof value !== 'object') return value
  if (Array.isArray(value)) return value.slice(0, 1_024).map(v => boundStrings(v, depth + 1))
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(value).slice(0, 1_024)) out[k] = boundStrings(v, depth + 1)
  return out
}
