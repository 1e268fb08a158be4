/**
 * The bounded structures of one peer (maps, sets, queues and caches keyed by request, peer, stream
 * or model), each with its size now and its bound. `/metrics` exposes them as
 * `harombe_bounded_size{structure}` and `harombe_bounded_limit{structure}`, so the soak can check
 * from outside that nothing outgrows its bound (issue 25). Per peer, not global: several peers may
 * share a process (tests, `harombe-peer demo`).
 */
export interface BoundedStructure {
  /** Stable and bounded (a label value): `module.structure`, e.g. `routing.prefix-blocks`. */
  name: string
  /** The most entries the structure may hold. */
  limit: number
  /** Entries it holds now; read at scrape time, so it must be cheap. */
  size: () => number
}

export interface BoundedReading { name: string, size: number, limit: number }

export class BoundedRegistry {
  private readonly structures = new Map<string, BoundedStructure>()

  /** Registers a structure; a second registration of a name replaces the first (a restart). */
  register (structure: BoundedStructure): void {
    this.structures.set(structure.name, structure)
  }

  unregister (name: string): void {
    this.structures.delete(name)
  }

  read (): BoundedReading[] {
    return [...this.structures.values()].map(s => ({ name: s.name, size: s.size(), limit: s.limit }))
  }
}
