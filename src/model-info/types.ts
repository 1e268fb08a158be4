// Model details (`POST /api/show`) and running models (`GET /api/ps`, issue 29): what a backend
// tells about the models it serves, in one internal shape; the Ollama JSON is an adapter at the edge.

export interface ModelDetails {
  model: string
  /** e.g. `gguf`. */
  format?: string
  family?: string
  /** GGUF `general.architecture` (llama, qwen2, …). */
  architecture?: string
  parameter_count?: number
  /** Ollama's label, e.g. `7.6B`. */
  parameter_size?: string
  quantization_level?: string
  /** Tokens the model (or the serving context) holds; what editors and chat UIs read. */
  context_length?: number
  embedding_length?: number
  /** The chat template as the server uses it (Jinja or Go template text). */
  template?: string
  /** Ollama's own `/api/show` answer (bounded), passed to Ollama clients unchanged. */
  ollama?: Record<string, unknown>
}

export interface RunningModel {
  model: string
  /** Bytes the model takes in memory, where known. */
  size?: number
  size_vram?: number
  digest?: string
  context_length?: number
  /** When the server unloads it (Ollama's keep_alive), ISO time; absent: it stays loaded. */
  expires_at?: string
  details?: { format?: string, family?: string, parameter_size?: string, quantization_level?: string }
}

/** Optional Backend methods: absent where the backend can tell nothing. */
export interface ModelInfoSource {
  show?: (model: string, signal: AbortSignal) => Promise<ModelDetails>
  ps?: (signal: AbortSignal) => Promise<RunningModel[]>
}
