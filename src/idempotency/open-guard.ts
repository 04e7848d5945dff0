import type { Logger } from 'pino'
import type { Database } from '../db/database.ts'
import type { SweepTask } from '../jobs/sweeper.ts'
import { IdempotencyGuard } from './guard.ts'
import { createIdempotencyRecords } from './records.ts'
import { idempotencyRetentionTask } from './retention.ts'

/** The guard of requests sent with an Idempotency-Key, and the sweep that forgets their answers after `ttlMs`. */
export function openIdempotency(
  database: Database,
  ttlMs: number,
  log: Logger,
): { guard: IdempotencyGuard; sweep: SweepTask } {
  const records = createIdempotencyRecords(database.db)
  return {
    guard: new IdempotencyGuard(records, database, ttlMs),
    sweep: idempotencyRetentionTask({ records, ttlMs, log }),
  }
}
