import type { Selectable } from 'kysely'
import { rowId } from '../db/row-id.ts'
import type { JobsTable } from '../db/schema.ts'
import type { Job, NewJob } from './types.ts'

/*
 * The one row mapping of both backends: the journal's jobs rows, and the outbox rows that BullMQ's store keeps until
 * Redis has them, are written and read as Jobs here.
 */

export type JobRow = Selectable<JobsTable>

/** What a new job is stored with, in the journal as in the outbox: a fresh id, the owner, the payload as JSON. */
export const newJobRow = (job: NewJob, now: number) => ({
  id: rowId(),
  kind: job.kind,
  owner_id: job.ownerId,
  payload: JSON.stringify(job.payload),
  created_at: now,
})

/** The columns of a job that has not run yet. */
export const NOT_STARTED = {
  stage: null,
  last_error: null,
  result: null,
  started_at: null,
  finished_at: null,
} as const

/** The one mapping from a jobs row to the Job the API and the runners see. */
export function toJob(row: JobRow): Job {
  return {
    id: row.id,
    kind: row.kind,
    ownerId: row.owner_id,
    payload: JSON.parse(row.payload),
    status: row.status,
    attempts: row.attempts,
    runAt: row.run_at,
    stage: row.stage,
    lastError: row.last_error === null ? null : JSON.parse(row.last_error),
    result: row.result === null ? null : JSON.parse(row.result),
    createdAt: row.created_at,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
  }
}
