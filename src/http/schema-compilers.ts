import { createRequire } from 'node:module'
import type { FastifyServerOptions } from 'fastify'

// Resolved from fastify's own location: the compilers are its dependencies, not ours.
const fromFastify = createRequire(createRequire(import.meta.url).resolve('fastify'))

type CompilersFactory = NonNullable<NonNullable<FastifyServerOptions['schemaController']>['compilersFactory']>
type BuildValidator = NonNullable<CompilersFactory['buildValidator']>
type BuildSerializer = NonNullable<CompilersFactory['buildSerializer']>

let validator: BuildValidator | undefined
let serializer: BuildSerializer | undefined

/**
 * Fastify builds ajv and fast-json-stringify with every server, for route schemas; ours declare
 * none (bodies are checked by our own code), yet the two cost an idle peer ~1.1 MB of live heap.
 * These builders load fastify's default compilers on first use instead, so a route that does
 * declare a schema is validated and serialized exactly as before.
 */
export const lazySchemaCompilers: NonNullable<FastifyServerOptions['schemaController']> = {
  compilersFactory: {
    buildValidator: (externalSchemas, options) => {
      validator ??= fromFastify('@fastify/ajv-compiler')() as BuildValidator
      return validator(externalSchemas, options)
    },
    buildSerializer: (externalSchemas, options) => {
      serializer ??= fromFastify('@fastify/fast-json-stringify-compiler')() as BuildSerializer
      return serializer(externalSchemas, options)
    }
  }
}
