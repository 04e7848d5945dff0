import type { Config } from '../config.ts'
import type { WatchErrors } from '../error-events.ts'
import { createImagePool, type ImagePool } from './pool.ts'
import type { ImageTask } from './task.ts'

export interface OpenPoolOptions {
  /** The tasks the job kinds run in the pool (JobKinds.poolTasks): their modules load as threads start. */
  preload: readonly ImageTask<never, unknown>[]
  /** A module that stands in for every task's own (tests). */
  substitute?: string
  watchErrors: WatchErrors
}

/** The image pool as the configuration sizes it. */
export function openImagePool(config: Config, options: OpenPoolOptions): ImagePool {
  return createImagePool({
    threads: config.poolThreads,
    idleTimeoutMs: config.POOL_IDLE_TIMEOUT_MS,
    maxQueue: config.POOL_MAX_QUEUE,
    maxHeapMb: config.POOL_MAX_HEAP_MB,
    nice: config.IMAGE_THREAD_NICE,
    ...options,
  })
}
