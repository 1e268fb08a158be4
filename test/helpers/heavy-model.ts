import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ensureGeneratedModel, HEAVY_SHAPE } from '../../src/backends/tiny-gguf.js'

/**
 * One data dir for the generated heavy model (110 MB), shared by every test file of a run and
 * kept between runs: ensureGeneratedModel checks the file against what it generates (~2 s) and
 * writes it only when missing or different, atomically, so parallel runs cannot see half a file.
 */
export const HEAVY_MODEL_DIR = join(tmpdir(), 'harombe-test-heavy-model')

let file: Promise<string> | undefined

/** The heavy model's path, generated once per process. */
export async function heavyModelFile (): Promise<string> {
  file ??= ensureGeneratedModel(HEAVY_MODEL_DIR, HEAVY_SHAPE).catch(err => { file = undefined; throw err })
  return await file
}
