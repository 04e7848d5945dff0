import { fileURLToPath } from 'node:url'
import { Worker, type WorkerOptions } from 'node:worker_threads'

const START = new URL('../workers/start.cjs', import.meta.url)

/**
 * A thread running `module`, a .ts file under workers/. It starts in workers/start.cjs, which loads the module
 * through tsx whether or not this process was started with `--import tsx`.
 */
export function startWorkerThread(
  module: URL,
  options: Omit<WorkerOptions, 'argv' | 'eval' | 'execArgv'> = {},
): Worker {
  return new Worker(START, { ...options, execArgv: [], argv: [fileURLToPath(module)] })
}
