import { fileURLToPath } from 'node:url'
import { Worker, type WorkerOptions } from 'node:worker_threads'
import { compiled, workerModule } from './runtime-files.ts'

const START = new URL('../workers/start.cjs', import.meta.url)

/**
 * A thread running `module`, a .ts file under workers/. Compiled, the thread starts on the module's .js. From the
 * sources it starts in workers/start.cjs, which loads the module through tsx whether or not this process was
 * started with `--import tsx`. It takes neither the parent's execArgv nor NODE_OPTIONS: their preloads (tsx's ESM
 * loader, a test runner's hooks) are of no use to these threads, and loading them in each new thread held up its
 * first answer for hundreds of milliseconds under load.
 */
export function startWorkerThread(
  module: URL,
  options: Omit<WorkerOptions, 'argv' | 'eval' | 'execArgv' | 'env'> = {},
): Worker {
  const env = { ...process.env }
  delete env.NODE_OPTIONS
  if (compiled) return new Worker(workerModule(module), { ...options, execArgv: [], env })
  return new Worker(START, { ...options, execArgv: [], env, argv: [fileURLToPath(module)] })
}
