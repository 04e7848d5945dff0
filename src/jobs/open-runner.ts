import type { Logger } from 'pino'
import type { Config } from '../config.ts'
import type { WatchErrors } from '../error-events.ts'
import { Dispatcher } from './dispatcher.ts'
import type { OpenedQueue } from './open-queue.ts'
import type { RunnerCoreOptions } from './runner-core.ts'
import type { Job, JobRunner, Lane } from './types.ts'

export interface OpenRunnerOptions {
  /** The lanes, each with its kinds' handlers (JobKinds.lanes). */
  lanes: Lane[]
  /** Kinds whose pending jobs the store counts per owner. */
  ownerCountedKinds: readonly string[]
  onFinished: (job: Job) => Promise<void>
  onSettled: RunnerCoreOptions['onSettled']
  log: Logger
  watchErrors: WatchErrors
}

/** The runner that serves `opened`: the dispatcher claims from the journal, BullRunner takes from BullMQ. */
export async function openRunner(config: Config, opened: OpenedQueue, options: OpenRunnerOptions): Promise<JobRunner> {
  const { lanes, onFinished, onSettled, log } = options
  const retries = {
    maxAttempts: config.MAX_ATTEMPTS,
    retryBaseMs: config.RETRY_BASE_MS,
    retryMaxMs: config.RETRY_MAX_MS,
    onFinished,
  }
  if (opened.backend === 'journal') {
    return new Dispatcher({
      queue: opened.queue,
      lanes,
      ...retries,
      pollIntervalMs: config.POLL_INTERVAL_MS,
      log,
      onSettled,
    })
  }
  // Loaded only for QUEUE=bullmq, as its store is (open-queue.ts).
  const { BullRunner } = await import('./bullmq/runner.ts')
  return new BullRunner({
    redisUrl: config.REDIS_URL as string,
    prefix: config.QUEUE_PREFIX,
    lanes,
    ...retries,
    stalledAfterMs: config.STALLED_AFTER_MS,
    log,
    watchErrors: options.watchErrors,
    onSettled,
    ownerCountedKinds: options.ownerCountedKinds,
  })
}
