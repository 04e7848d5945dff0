import type { Db } from '../db/database.ts'
import type { FinishedStatus, Journal } from './types.ts'

/** The ids of at most `limit` jobs of `status` finished before `before`: one sweep batch, read through jobs_finished. */
export const finishedBatch = (db: Db, status: FinishedStatus, before: number, limit: number) =>
  db.selectFrom('jobs').select('id').where('status', '=', status).where('finished_at', '<', before).limit(limit)

/**
 * The retention sweep's delete (src/jobs/retention.ts): at most `limit` jobs finished before `before`, in one bounded
 * statement of jobs and, for succeeded jobs, one of jobs_done.
 */
export const journalDeleteFinished =
  (db: Db): Journal['deleteFinished'] =>
  async (status, before, limit) => {
    // SQLite has no DELETE … LIMIT (unless built with it): the batch is chosen by a subquery, through
    // jobs_finished, so each statement touches at most `limit` rows whatever the table holds.
    const result = await db
      .deleteFrom('jobs')
      .where('id', 'in', finishedBatch(db, status, before, limit))
      .executeTakeFirst()
    const deleted = Number(result.numDeletedRows)
    if (status !== 'succeeded' || deleted === limit) return deleted
    // jobs_done, from its front (the oldest ids): of the first rows in id order, twice the batch read at most,
    // those finished before the cutoff. Bounded without an index of finished times, which would cost each job
    // its id again: jobs finish in about the order they were made, so the front is what finished first. A job
    // not due yet at the front is passed over; only more than a batch of them (made long before they finished,
    // retried for hours) stop the sweep early, until they are due. None is deleted before its time.
    const left = limit - deleted
    const done = await db
      .deleteFrom('jobs_done')
      .where('id', 'in', (eb) =>
        eb
          .selectFrom((front) =>
            front
              .selectFrom('jobs_done')
              .select(['id', 'finished_at'])
              .orderBy('id')
              .limit(2 * left)
              .as('front'),
          )
          .select('front.id')
          .where('front.finished_at', '<', before)
          .limit(left),
      )
      .executeTakeFirst()
    return deleted + Number(done.numDeletedRows)
  }
