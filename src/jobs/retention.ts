import { betweenBatches, type SweepTask, type SweepTaskOptions } from './sweeper.ts'
import type { FinishedStatus, JobStore } from './types.ts'

export interface RetentionOptions extends SweepTaskOptions {
  store: Pick<JobStore, 'deleteFinished'>
  /** Succeeded jobs are deleted this long after they finished; 0 keeps them (JOB_RETENTION_MS). */
  keepSucceededMs: number
  /** Failed jobs likewise (FAILED_JOB_RETENTION_MS), and cancelled ones with them. */
  keepFailedMs: number
  /** Rows per statement. */
  batchSize?: number
  /** Told of every batch deleted, for metrics. */
  onSwept?: (status: FinishedStatus, count: number) => void
}

/*
 * Rows a statement: small enough that one batch is a short hold of the event loop with SQLite (better-sqlite3 is
 * synchronous) and one short transaction in PostgreSQL, so that requests and claims are served between batches of a
 * long sweep; the figures behind the choice are in src/bench/RESULTS.md (moved from code comments).
 */
const BATCH_SIZE = 500

/**
 * The retention sweep: deletes finished jobs past their retention, a bounded batch at a time, yielding to the
 * event loop between batches so claims and requests go on while a large backlog goes.
 */
export function retentionTask(options: RetentionOptions): SweepTask {
  const { store, log, onSwept } = options
  const batchSize = options.batchSize ?? BATCH_SIZE
  const clock = options.clock ?? Date.now
  const keep: [FinishedStatus, number][] = [
    ['succeeded', options.keepSucceededMs],
    ['failed', options.keepFailedMs],
    // Kept as long as failed ones: on BullMQ a cancelled job is one of its failed jobs, removed on their schedule.
    ['cancelled', options.keepFailedMs],
  ]
  return {
    name: 'job retention',
    async run(stopping) {
      const started = clock()
      const swept: Record<FinishedStatus, number> = { succeeded: 0, failed: 0, cancelled: 0 }
      for (const [status, keepMs] of keep) {
        if (keepMs === 0) continue
        // One cutoff per sweep: jobs finishing meanwhile wait for the next sweep instead of prolonging this one.
        const before = started - keepMs
        while (!stopping()) {
          const deleted = await store.deleteFinished(status, before, batchSize)
          swept[status] += deleted
          if (deleted > 0) onSwept?.(status, deleted)
          if (deleted < batchSize) break
          await betweenBatches()
        }
      }
      if (swept.succeeded + swept.failed + swept.cancelled > 0) {
        log.info({ ...swept, ms: clock() - started }, 'deleted finished jobs past their retention')
      }
    },
  }
}
