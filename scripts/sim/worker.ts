// Runs the trials of one simulator job in a worker thread (the full run uses both cores).
import { parentPort, workerData } from 'node:worker_threads'
import { runTrials, type SimJob, type WorkerMessage } from './jobs.js'

const job = workerData as SimJob
const post = (message: WorkerMessage): void => { parentPort?.postMessage(message) }
const outcomes = await runTrials(job, text => { post({ type: 'progress', text }) })
post({ type: 'done', outcomes })
