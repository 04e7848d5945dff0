import { fileURLToPath } from 'node:url'
import { workerData } from 'node:worker_threads'
import type { PoolTask } from '../jobs/kind.ts'
import { workerModule } from '../runtime-files.ts'
import { lowerImageThreadPriority } from './thread-priority.ts'

/**
 * A named task of the image pool: the function `name` exported by `filename`, a module under workers/ that the
 * pool's threads load. `In` and `Out` are what goes to the thread and what comes back (structured-cloned).
 */
export interface ImageTask<In, Out> extends PoolTask {
  /** Types only: never set. */
  readonly types?: (input: In) => Out
}

/** The handle a feature keeps on one function of its worker module, to give to `ImagePool.run`. */
export function imageTask<In, Out>(module: URL, name: string): ImageTask<In, Out> {
  return { filename: fileURLToPath(workerModule(module)), name }
}

/** The function a worker module exports for `task`. */
export type ImageTaskFunction<T> = T extends ImageTask<infer In, infer Out> ? (input: In) => Promise<Out> : never

/**
 * What a worker module exports for each of its tasks: `work`, run at the image threads' priority (IMAGE_THREAD_NICE,
 * given to every thread by the pool), including libvips' threads that the work itself started.
 */
export function inImageThread<In, Out>(work: (input: In) => Promise<Out>): (input: In) => Promise<Out> {
  const nice = Number((workerData as { nice?: number } | undefined)?.nice ?? 0)
  return async (input) => {
    lowerImageThreadPriority(nice)
    try {
      return await work(input)
    } finally {
      // libvips starts threads as it needs them; the ones this task brought are lowered too.
      lowerImageThreadPriority(nice)
    }
  }
}
