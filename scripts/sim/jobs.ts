// A job is the trials of one (N, loss); jobs run in-process one after the other, or in worker
// threads side by side (one per core), largest first.
import { Worker } from 'node:worker_threads'
import { availableParallelism } from 'node:os'
import { runScenario, type Progress, type ScenarioConfig, type ScenarioOutcome } from './scenario.js'

export interface SimJob {
  /** For progress lines: `N=100 loss=1%`. */
  label: string
  config: ScenarioConfig
  /** Independent runs with seeds config.seed, +1, +2…, pooled into one row. */
  trials: number
  /** Relative cost, to start the largest first. */
  cost: number
}

export type WorkerMessage =
  | { type: 'progress', text: string }
  | { type: 'done', outcomes: ScenarioOutcome[] }

export async function runTrials (job: SimJob, progress: Progress): Promise<ScenarioOutcome[]> {
  const outcomes: ScenarioOutcome[] = []
  for (let t = 0; t < job.trials; t++) {
    const prefix = job.trials > 1 ? `trial ${t + 1}/${job.trials}: ` : ''
    outcomes.push(await runScenario({ ...job.config, seed: job.config.seed + t }, text => { progress(prefix + text) }))
  }
  return outcomes
}

/** Young generation for a worker: the views are copy-on-write, so the simulator allocates fast (a larger nursery means fewer scavenges). */
const WORKER_YOUNG_MB = 96

function inWorker (job: SimJob, progress: Progress): Promise<ScenarioOutcome[]> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL('./worker-entry.mjs', import.meta.url), {
      workerData: job,
      resourceLimits: { maxYoungGenerationSizeMb: WORKER_YOUNG_MB }
    })
    let outcomes: ScenarioOutcome[] | undefined
    worker.on('message', (message: WorkerMessage) => {
      if (message.type === 'progress') progress(message.text)
      else outcomes = message.outcomes
    })
    worker.on('error', reject)
    worker.on('exit', code => {
      if (outcomes != null) resolve(outcomes)
      else reject(new Error(`simulator worker for ${job.label} exited with code ${code} and no result`))
    })
  })
}

/** Outcomes per job, in the order of `jobs`. `parallel`: up to one worker thread per core. */
export async function runJobs (jobs: readonly SimJob[], options: { parallel: boolean, progress: (job: SimJob, text: string) => void }): Promise<ScenarioOutcome[][]> {
  const results: ScenarioOutcome[][] = new Array(jobs.length)
  if (!options.parallel) {
    for (const [i, job] of jobs.entries()) results[i] = await runTrials(job, text => { options.progress(job, text) })
    return results
  }
  const queue = [...jobs.keys()].sort((a, b) => (jobs[b]?.cost ?? 0) - (jobs[a]?.cost ?? 0))
  const lanes = Math.max(1, Math.min(availableParallelism(), jobs.length))
  await Promise.all(Array.from({ length: lanes }, async () => {
    for (let i = queue.shift(); i != null; i = queue.shift()) {
      const job = jobs[i] as SimJob
      results[i] = await inWorker(job, text => { options.progress(job, text) })
    }
  }))
  return results
}
