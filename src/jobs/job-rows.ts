import type { Selectable } from 'kysely'
import { rowId } from '../db/row-id.ts'
import type { JobsDoneTable, JobsTable } from '../db/schema.ts'
import type { Job, NewJob } from './types.ts'

/*
 * The one row mapping of both backends: the journal's jobs rows, and the outbox rows that BullMQ's store keeps until
 * Redis has them, are written and read as Jobs here.
 */

export type JobRow = Selectable<JobsTable>
type DoneRow = Selectable<JobsDoneTable>

/*
 * A succeeded job's result as jobs_done keeps it: the job's id, wherever the result quotes it (a mail's
 * Message-ID), written as this one character. JSON text never holds it raw (JSON.stringify escapes every control
 * character), so the id is put back exactly.
 */
const JOB_ID_MARK = '\u001f'
export const storedResult = (id: string, result: unknown) => JSON.stringify(result ?? null).replaceAll(id, JOB_ID_MARK)
const parsedResult = (id: string, stored: string | null) =>
  stored === null ? null : JSON.parse(stored.replaceAll(JOB_ID_MARK, id))

/** What a new job is stored with, in the journal as in the outbox: a fresh id, the owner, the payload as JSON. */
export const newJobRow = (job: NewJob, now: number) => ({
  id: rowId(),
  kind: job.kind,
  owner_id: job.ownerId,
  payload: JSON.stringify(job.payload),
  created_at: now,
})

/** A job just queued, due when it was made: what toJob reads back of the row newJobRow made, without reading it. */
export const queuedJob = (row: ReturnType<typeof newJobRow>): Job => ({
  id: row.id,
  kind: row.kind,
  ownerId: row.owner_id,
  payload: JSON.parse(row.payload),
  status: 'queued',
  attempts: 0,
  runAt: row.created_at,
  stage: null,
  lastError: null,
  result: null,
  createdAt: row.created_at,
  startedAt: null,
  finishedAt: null,
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
    result: parsedResult(row.id, row.result),
    createdAt: row.created_at,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
  }
}

/**
 * A succeeded job from jobs_done (migration 0010). Its payload is gone (nothing reads a succeeded job's: its
 * owner's and the admin's views leave it out); it was due when it started at the latest.
 */
export function doneToJob(row: DoneRow): Job {
  const finished = Number(row.finished_at)
  const createdAt = finished - Number(row.age_ms)
  const startedAt = row.run_ms === null ? null : finished - Number(row.run_ms)
  return {
    id: row.id,
    kind: row.kind,
    ownerId: row.owner_id,
    payload: null,
    status: 'succeeded',
    attempts: row.attempts,
    runAt: startedAt ?? createdAt,
    stage: null,
    lastError: null,
    result: parsedResult(row.id, row.result),
    createdAt,
    startedAt,
    finishedAt: finished,
  }
}
