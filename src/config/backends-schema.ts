import { z } from 'zod'
import { BACKEND_KINDS, backendEntrySpec, BackendSpecError, checkSpecList, MAX_BACKEND_CAPACITY } from '../backends/backend-spec.js'

// A node entry's `backends:` list: each item the `--backend` text (`openai=http://…/v1,capacity=8`)
// or its long form as a mapping. Checked here, so a bad item is reported with its path and line
// like every other config problem; the peer builds them later (backends/build.ts).

const message = (what: string) => ({ error: (issue: { input?: unknown }) => issue.input === undefined ? `required (expected ${what})` : `expected ${what}` })

const BackendEntryObjectSchema = z.strictObject({
  kind: z.enum(BACKEND_KINDS, message('embedded, ollama, openai or none')),
  url: z.url({ protocol: /^https?$/, ...message('an http(s) URL') }).optional(),
  model_file: z.string(message('a file path')).min(1).optional(),
  capacity: z.int(message(`a whole number from 1 to ${MAX_BACKEND_CAPACITY}`)).min(1).max(MAX_BACKEND_CAPACITY).optional(),
  key_env: z.string(message('an environment variable name')).regex(/^[A-Za-z_][A-Za-z0-9_]*$/).optional()
}, message('a backend such as "ollama" or { kind: openai, url: http://127.0.0.1:8080/v1 }'))

export const BackendEntrySchema = z.union([z.string().min(1), BackendEntryObjectSchema], message('a backend such as "ollama", "openai=http://127.0.0.1:8080/v1" or a mapping with kind'))
  .superRefine((entry, ctx) => {
    try {
      // Paths are resolved when the peer starts; here only the shape matters.
      backendEntrySpec(entry, { home: '/', baseDir: '/' })
    } catch (err) {
      if (!(err instanceof BackendSpecError)) throw err
      ctx.addIssue({ code: 'custom', input: entry, message: err.message })
    }
  })

export const BackendListSchema = z.array(BackendEntrySchema, message('a list of backends')).min(1, 'expected at least one backend').superRefine((entries, ctx) => {
  const kinds = entries.map(e => typeof e === 'string' ? e.split(/[=,]/)[0]?.trim() : e.kind)
  const problem = checkSpecList(kinds.map(kind => ({ kind: kind === 'none' ? 'none' : 'ollama' })))
  if (problem != null) ctx.addIssue({ code: 'custom', input: entries, message: problem })
})

export type BackendEntry = z.output<typeof BackendEntrySchema>
