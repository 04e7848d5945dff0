import { betweenBatches, type SweepTask, type SweepTaskOptions } from '../jobs/sweeper.ts'
import type { IdempotencyRecords } from './records.ts'

export interface IdempotencyRetentionOptions extends SweepTaskOptions {
  records: Pick<IdempotencyRecords, 'deleteExpired'>
  /** IDEMPOTENCY_TTL_MS: past it a key is forgotten. */
  ttlMs: number
  /** Rows per statement. */
  batchSize?: number
}

// As the job retention sweep's batches (src/jobs/retention.ts): short statements, the event loop free between.
const BATCH_SIZE = 500

/** Deletes kept answers past IDEMPOTENCY_TTL_MS, a bounded batch at a time. */
export function idempotencyRetentionTask(options: IdempotencyRetentionOptions): SweepTask {
  const { records, log } = options
  const batchSize = options.batchSize ?? BATCH_SIZE
  const clock = options.clock ?? Date.now
  return {
    name: 'idempotency keys',
    async run(stopping) {
      const started = clock()
      const before = started - options.ttlMs
      let swept = 0
      while (!stopping()) {
        const deleted = await records.deleteExpired(before, batchSize)
        swept += deleted
        if (deleted < batchSize) break
        await betweenBatches()
      }
      if (swept > 0) log.info({ keys: swept, ms: clock() - started }, 'forgot idempotency keys past their TTL')
    },
  }
}
