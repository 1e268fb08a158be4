// A minimal GGUF v3 writer: metadata key/values plus F32 tensors, which is all a tiny test
// model needs. Layout (little-endian): header, metadata, tensor infos, padding, tensor data.
// Every number goes through a DataView with littleEndian = true so the bytes do not depend
// on the host's endianness.

export const GGUF_MAGIC = 'GGUF'
export const GGUF_VERSION = 3
/** llama.cpp's default `general.alignment`; tensor data offsets are multiples of it. */
export const GGUF_ALIGNMENT = 32

/** GGUF metadata value types (the `u32 value_type` before each value). */
const T = { U8: 0, I8: 1, U16: 2, I16: 3, U32: 4, I32: 5, F32: 6, BOOL: 7, STRING: 8, ARRAY: 9, U64: 10, I64: 11, F64: 12 } as const
/** ggml tensor type F32. */
const GGML_TYPE_F32 = 0

/** Appends little-endian values to a list of chunks; concatenated once at the end. */
class ByteSink {
  private readonly chunks: Uint8Array[] = []
  length = 0

  bytes (chunk: Uint8Array): void {
    this.chunks.push(chunk)
    this.length += chunk.byteLength
  }

  private fixed (size: number, write: (view: DataView) => void): void {
    const chunk = new Uint8Array(size)
    write(new DataView(chunk.buffer))
    this.bytes(chunk)
  }

  u32 (value: number): void { this.fixed(4, v => v.setUint32(0, value, true)) }
  i32 (value: number): void { this.fixed(4, v => v.setInt32(0, value, true)) }
  u64 (value: number): void { this.fixed(8, v => v.setBigUint64(0, BigInt(value), true)) }
  f32 (value: number): void { this.fixed(4, v => v.setFloat32(0, value, true)) }
  bool (value: boolean): void { this.bytes(Uint8Array.of(value ? 1 : 0)) }

  string (value: string): void {
    const bytes = new TextEncoder().encode(value)
    this.u64(bytes.byteLength)
    this.bytes(bytes)
  }

  f32s (values: ArrayLike<number>): void {
    this.fixed(values.length * 4, v => {
      for (let i = 0; i < values.length; i++) v.setFloat32(i * 4, values[i] as number, true)
    })
  }

  zeros (count: number): void {
    if (count > 0) this.bytes(new Uint8Array(count))
  }

  toBytes (): Uint8Array {
    const out = new Uint8Array(this.length)
    let offset = 0
    for (const chunk of this.chunks) {
      out.set(chunk, offset)
      offset += chunk.byteLength
    }
    return out
  }
}

interface Tensor {
  name: string
  /** ggml order: innermost (contiguous) dimension first. */
  dims: number[]
  data: Float32Array
}

const padding = (offset: number): number => (GGUF_ALIGNMENT - (offset % GGUF_ALIGNMENT)) % GGUF_ALIGNMENT

/**
 * Collects metadata and F32 tensors in insertion order, then serialises them. The output
 * depends only on what was added, so the same calls always give the same bytes.
 */
export class GgufWriter {
  private readonly metadata: Array<{ key: string, write: (sink: ByteSink) => void }> = []
  private readonly tensors: Tensor[] = []

  private add (key: string, type: number, write: (sink: ByteSink) => void): this {
    if (this.metadata.some(m => m.key === key)) throw new Error(`duplicate GGUF metadata key ${key}`)
    this.metadata.push({ key, write: sink => { sink.u32(type); write(sink) } })
    return this
  }

  string (key: string, value: string): this { return this.add(key, T.STRING, s => s.string(value)) }
  u32 (key: string, value: number): this { return this.add(key, T.U32, s => s.u32(value)) }
  f32 (key: string, value: number): this { return this.add(key, T.F32, s => s.f32(value)) }
  bool (key: string, value: boolean): this { return this.add(key, T.BOOL, s => s.bool(value)) }

  stringArray (key: string, values: readonly string[]): this {
    return this.add(key, T.ARRAY, s => { s.u32(T.STRING); s.u64(values.length); values.forEach(v => s.string(v)) })
  }

  f32Array (key: string, values: readonly number[]): this {
    return this.add(key, T.ARRAY, s => { s.u32(T.F32); s.u64(values.length); s.f32s(values) })
  }

  i32Array (key: string, values: readonly number[]): this {
    return this.add(key, T.ARRAY, s => { s.u32(T.I32); s.u64(values.length); values.forEach(v => s.i32(v)) })
  }

  /** An F32 tensor; `dims` in ggml order (innermost first), e.g. `[n_embd, n_vocab]`. */
  tensor (name: string, dims: number[], data: Float32Array): this {
    const count = dims.reduce((a, b) => a * b, 1)
    if (count !== data.length) throw new Error(`tensor ${name}: dims ${dims.join('x')} need ${count} values, got ${data.length}`)
    if (this.tensors.some(t => t.name === name)) throw new Error(`duplicate GGUF tensor ${name}`)
    this.tensors.push({ name, dims, data })
    return this
  }

  toBytes (): Uint8Array {
    const sink = new ByteSink()
    sink.bytes(new TextEncoder().encode(GGUF_MAGIC))
    sink.u32(GGUF_VERSION)
    sink.u64(this.tensors.length)
    sink.u64(this.metadata.length)
    for (const { key, write } of this.metadata) {
      sink.string(key)
      write(sink)
    }
    // Offsets are relative to the (aligned) start of the data section.
    let offset = 0
    for (const tensor of this.tensors) {
      sink.string(tensor.name)
      sink.u32(tensor.dims.length)
      tensor.dims.forEach(d => sink.u64(d))
      sink.u32(GGML_TYPE_F32)
      sink.u64(offset)
      offset += tensor.data.length * 4
      offset += padding(offset)
    }
    sink.zeros(padding(sink.length))
    for (const tensor of this.tensors) {
      sink.f32s(tensor.data)
      sink.zeros(padding(tensor.data.length * 4))
    }
    return sink.toBytes()
  }
}

export interface GgufHeader {
  version: number
  tensorCount: number
  metadataCount: number
}

/** The fixed 24-byte GGUF header, or undefined when `bytes` does not start with the magic. */
export function readGgufHeader (bytes: Uint8Array): GgufHeader | undefined {
  if (bytes.byteLength < 24 || new TextDecoder().decode(bytes.subarray(0, 4)) !== GGUF_MAGIC) return undefined
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  return {
    version: view.getUint32(4, true),
    tensorCount: Number(view.getBigUint64(8, true)),
    metadataCount: Number(view.getBigUint64(16, true))
  }
}
